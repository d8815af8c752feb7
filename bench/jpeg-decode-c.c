// libjpeg-turbo's decode alone (TurboJPEG, accurate DCT, to RGB), the floor for psvit's native decoder:
//   cc -O2 bench/jpeg-decode-c.c -o /tmp/tjbench -lturbojpeg && /tmp/tjbench $(find DIR -name "*.jpg" | head -300)
// Each file is decoded twice; the second pass is timed.
#include <turbojpeg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char** argv) {
  tjhandle h = tjInitDecompress();
  double total = 0; int n = 0;
  for (int rep = 0; rep < 2; rep++)
  for (int i = 1; i < argc; i++) {
    FILE* f = fopen(argv[i], "rb"); fseek(f, 0, SEEK_END); long sz = ftell(f); fseek(f, 0, SEEK_SET);
    unsigned char* buf = malloc(sz); fread(buf, 1, sz, f); fclose(f);
    int w, hh, ss, cs; struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    tjDecompressHeader3(h, buf, sz, &w, &hh, &ss, &cs);
    unsigned char* out = malloc(w * hh * 3);
    tjDecompress2(h, buf, sz, out, w, 0, hh, TJPF_RGB, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rep) { total += (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6; n++; }
    free(out); free(buf);
  }
  printf("turbojpeg decode: %.3f ms/image over %d\n", total / n, n);
}
