#!/usr/bin/python3
# digits.py: scikit-learn's bundled handwritten digits (Debian's python3-sklearn:
# sklearn/datasets/data/digits.csv.gz, 1797 images of 8x8 pixels in 17 grey levels 0-16, with
# their labels; the test part of UCI's optdigits) as MNIST-like IDX files: each image scaled to
# 0-255, enlarged to 20x20 by bilinear interpolation (pixel centres aligned), centred in 28x28
# as MNIST's digits are, white on black. Fixed split: the first 1000 images (99 to 104 of each
# class) train, the other 797 test. Deterministic: numpy only, no resampling library.
#
# usage: pipelines/digits.py [-o DIR] [--csv FILE]
# Writes DIR/digits-{train,test}-{images-idx3,labels-idx1}-ubyte (default DIR: out/digits),
# which mae-decode reads as an IDX source (labels from the file beside the images).
import argparse, gzip, os, struct, sys
import numpy as np

CSV = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
NTRAIN = 1000

def enlarge(img, n):
    """8x8 float -> n x n, bilinear, pixel centres aligned (half-pixel convention)."""
    h = img.shape[0]
    c = (np.arange(n) + 0.5) * h / n - 0.5
    c = np.clip(c, 0, h - 1)
    i0 = np.floor(c).astype(int)
    i1 = np.minimum(i0 + 1, h - 1)
    f = c - i0
    rows = img[i0, :] * (1 - f)[:, None] + img[i1, :] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]

def write_idx(path, arr):
    code = {1: 0x801, 3: 0x803}[arr.ndim]
    with open(path, "wb") as f:
        f.write(struct.pack(">I", code))
        f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
        f.write(arr.astype(np.uint8).tobytes())

def main():
    ap = argparse.ArgumentParser(description="sklearn's digits as 28x28 IDX files")
    ap.add_argument("-o", default="out/digits", help="output folder (out/digits)")
    ap.add_argument("--csv", default=CSV, help="digits.csv.gz (python3-sklearn's)")
    a = ap.parse_args()
    if not os.path.exists(a.csv):
        sys.exit(f"digits.py: {a.csv}: no such file (apt-get install python3-sklearn)")
    with gzip.open(a.csv, "rt") as f:
        rows = np.array([[int(v) for v in line.split(",")] for line in f if line.strip()])
    if rows.shape != (1797, 65):
        sys.exit(f"digits.py: {a.csv}: expected 1797 rows of 65 numbers, got {rows.shape}")
    x, y = rows[:, :64].reshape(-1, 8, 8) * (255.0 / 16.0), rows[:, 64]
    imgs = np.zeros((len(x), 28, 28), np.uint8)
    for k, im in enumerate(x):
        imgs[k, 4:24, 4:24] = np.clip(np.rint(enlarge(im, 20)), 0, 255)
    os.makedirs(a.o, exist_ok=True)
    for split, sl in (("train", slice(0, NTRAIN)), ("test", slice(NTRAIN, None))):
        write_idx(os.path.join(a.o, f"digits-{split}-images-idx3-ubyte"), imgs[sl])
        write_idx(os.path.join(a.o, f"digits-{split}-labels-idx1-ubyte"), y[sl])
    print(f"digits.py: {a.o}: {NTRAIN} train and {len(x) - NTRAIN} test images of 28x28", file=sys.stderr)

if __name__ == "__main__":
    main()
