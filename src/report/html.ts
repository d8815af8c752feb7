/**
 * Self-contained HTML reports (no scripts): vega-lite specs rendered to SVG here, with headings, text
 * and tables. Used by the search report, the rank-correlation report and the training report.
 */
import * as vega from "vega";
import * as vl from "vega-lite";

export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

export interface ReportSection {
  heading: string;
  svg?: string;
  table?: { head: string[]; rows: (string | number)[][] };
  text?: string;
}

export function htmlReport(title: string, sections: ReportSection[]): string {
  const body = sections
    .map((s) => {
      const parts = [`<h2>${esc(s.heading)}</h2>`];
      if (s.text) parts.push(`<p>${esc(s.text)}</p>`);
      if (s.svg) parts.push(`<figure>${s.svg}</figure>`);
      if (s.table) {
        const head = s.table.head.map((h) => `<th>${esc(h)}</th>`).join("");
        const rows = s.table.rows
          .map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join("")}</tr>`)
          .join("\n");
        parts.push(`<table><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`);
      }
      return parts.join("\n");
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; font-size: 14px; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; font-family: monospace; }
figure { margin: 1em 0; }
</style></head>
<body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}
