# Is Fashion-MNIST's test split harder than a validation split carved from its training set? A small
# CNN (2 conv + 2 linear, Adam 1e-3, batch 128, 4 epochs, one thread) trained on 54,000 training images,
# scored after every epoch on the 6,000 held out (a seeded random 10%) and on the 10,000 test images.
#   /usr/bin/python3 bench/fmnist_gap.py   (seeds 0 and 1; docs/BENCHMARKS.md, issue 14)
import numpy as np, torch, gzip, os, sys, time
torch.set_num_threads(1)
d='/usr/share/datasets/fashion-mnist/'
def rd(name, off):
    p=[f for f in os.listdir(d) if f.startswith(name)][0]
    b=open(d+p,'rb').read()
    if p.endswith('.gz'): b=gzip.decompress(b)
    return np.frombuffer(b,dtype=np.uint8,offset=off)
Xtr=rd('train-images',16).reshape(-1,784).astype(np.float32)/255; ytr=rd('train-labels',8).astype(np.int64)
Xte=rd('t10k-images',16).reshape(-1,784).astype(np.float32)/255; yte=rd('t10k-labels',8).astype(np.int64)
for seed in [0,1]:
    rng=np.random.default_rng(seed); idx=rng.permutation(60000); va=idx[:6000]; tr=idx[6000:]
    torch.manual_seed(seed)
    m=torch.nn.Sequential(torch.nn.Unflatten(1,(1,28,28)),torch.nn.Conv2d(1,32,3,padding=1),torch.nn.ReLU(),torch.nn.MaxPool2d(2),torch.nn.Conv2d(32,64,3,padding=1),torch.nn.ReLU(),torch.nn.MaxPool2d(2),torch.nn.Flatten(),torch.nn.Linear(64*49,128),torch.nn.ReLU(),torch.nn.Linear(128,10))
    opt=torch.optim.Adam(m.parameters(),1e-3)
    X=torch.tensor(Xtr[tr]); Y=torch.tensor(ytr[tr])
    def acc(Xs,ys):
        with torch.no_grad(): return (m(torch.tensor(Xs)).argmax(1).numpy()==ys).mean()*100
    for ep in range(4):
        p=torch.randperm(len(X))
        for i in range(0,len(X),128):
            j=p[i:i+128]; opt.zero_grad(); l=torch.nn.functional.cross_entropy(m(X[j]),Y[j]); l.backward(); opt.step()
        print(seed, ep, 'val %.2f test %.2f'%(acc(Xtr[va],ytr[va]),acc(Xte,yte)), flush=True)
