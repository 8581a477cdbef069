#!/usr/bin/python3
# digits.py: labelled handwritten digits from Debian packages, as MNIST-like IDX files (28x28,
# white on black, the digit in the central 20x20 as MNIST's), for evaluating an encoder on a set
# it never saw. Two sets (--set):
#   sklearn  scikit-learn's bundled digits (python3-sklearn: sklearn/datasets/data/digits.csv.gz,
#            1797 images of 8x8 pixels in 17 grey levels 0-16, the test part of UCI's
#            optdigits): each scaled to 0-255 and enlarged to 20x20 by bilinear interpolation
#            (pixel centres aligned). Split: the first 1000 images (99 to 104 a class) train, the
#            other 797 test.
#   opencv   OpenCV's sample digits (opencv-doc: examples/data/digits.png, 2000x1000 grey: 50
#            rows of 100 digits of 20x20, five rows a class, 0 first; MNIST's handwriting, at
#            MNIST's own 20x20 size): as they are. Split as OpenCV's k-NN tutorial: the left 50
#            digits of each row train, the right 50 test (2500 and 2500, 250 a class each).
# Deterministic: numpy (and PIL to read the PNG) only, no resampling library.
#
# usage: pipelines/digits.py [-o DIR] [--set sklearn|opencv] [--csv FILE] [--png FILE]
# Writes DIR/digits-{train,test}-{images-idx3,labels-idx1}-ubyte (default DIR: out/digits),
# which mae-decode reads as an IDX source (labels from the file beside the images).
import argparse, gzip, os, struct, sys
import numpy as np

CSV = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
PNG = "/usr/share/doc/opencv-doc/examples/data/digits.png"
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

def sklearn_digits(path):
    """(train images, train labels, test images, test labels) of scikit-learn's digits"""
    if not os.path.exists(path):
        sys.exit(f"digits.py: {path}: no such file (apt-get install python3-sklearn)")
    with gzip.open(path, "rt") as f:
        rows = np.array([[int(v) for v in line.split(",")] for line in f if line.strip()])
    if rows.shape != (1797, 65):
        sys.exit(f"digits.py: {path}: expected 1797 rows of 65 numbers, got {rows.shape}")
    x, y = rows[:, :64].reshape(-1, 8, 8) * (255.0 / 16.0), rows[:, 64]
    imgs = np.zeros((len(x), 28, 28), np.uint8)
    for k, im in enumerate(x):
        imgs[k, 4:24, 4:24] = np.clip(np.rint(enlarge(im, 20)), 0, 255)
    return imgs[:NTRAIN], y[:NTRAIN], imgs[NTRAIN:], y[NTRAIN:]

def opencv_digits(path):
    """the same of OpenCV's sample digits: the left half of each row train, the right half test"""
    if not os.path.exists(path):
        sys.exit(f"digits.py: {path}: no such file (apt-get install opencv-doc)")
    from PIL import Image
    a = np.asarray(Image.open(path).convert("L"))
    if a.shape != (1000, 2000):
        sys.exit(f"digits.py: {path}: expected 2000x1000 pixels (50 rows of 100 digits), got {a.shape[1]}x{a.shape[0]}")
    imgs = np.zeros((50, 100, 28, 28), np.uint8)
    imgs[:, :, 4:24, 4:24] = a.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3)
    y = np.repeat(np.arange(10), 5 * 50)           # five rows a class, 50 digits a half-row
    return imgs[:, :50].reshape(-1, 28, 28), y, imgs[:, 50:].reshape(-1, 28, 28), y

def main():
    ap = argparse.ArgumentParser(description="handwritten digits from Debian packages as 28x28 IDX files")
    ap.add_argument("-o", default="out/digits", help="output folder (out/digits)")
    ap.add_argument("--set", default="sklearn", choices=("sklearn", "opencv"), help="which digits (sklearn)")
    ap.add_argument("--csv", default=CSV, help="digits.csv.gz (python3-sklearn's)")
    ap.add_argument("--png", default=PNG, help="digits.png (opencv-doc's)")
    a = ap.parse_args()
    xtr, ytr, xte, yte = sklearn_digits(a.csv) if a.set == "sklearn" else opencv_digits(a.png)
    os.makedirs(a.o, exist_ok=True)
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        write_idx(os.path.join(a.o, f"digits-{split}-images-idx3-ubyte"), x)
        write_idx(os.path.join(a.o, f"digits-{split}-labels-idx1-ubyte"), y)
    print(f"digits.py: {a.o}: {len(xtr)} train and {len(xte)} test images of 28x28 ({a.set})", file=sys.stderr)

if __name__ == "__main__":
    main()
