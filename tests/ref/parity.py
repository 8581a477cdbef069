"""Compare maepipe's forward/backward with the PyTorch reference (tests/ref/mae_ref.py).

usage: parity.py DIR [NAME]
DIR holds model.safetensors (a maepipe checkpoint) and state.safetensors (the batch, maepipe's
loss, predictions and every parameter gradient), as written by test_model_parity --dump.
Prints TAP lines without a plan (the caller numbers and plans); exits 1 on any mismatch.

Errors: loss |a-b|/|b|; predictions and gradients max|a-b| / max|b| per tensor. With SupMAE's
branch, also its loss term (rel <= 1e-5) and the latent's gradient the decoder stage sends back,
the branch's part included (rel <= 1e-4).

bf16=1 in the metadata (maepipe's linear layers and the attention's per-head products with bf16
operands and fp32 sums): the reference is the same model with every linear layer's, the patch
embedding's and the attention's products done as maepipe does them, operands rounded to bf16 (round to nearest even) and the products summed in
fp32 (bf16_products below: x and W rounded on the way in, dy on the way back, bias, its gradient
and everything else fp32). Only the summation order and the rare rounding that an upstream
difference of an ulp tips to the other bf16 neighbour differ. Those flips cascade (a flipped
operand moves by 2^-8, which tips more roundings downstream), so the bounds are loss 1e-4,
predictions 1e-2 and gradients 2e-2 (measured with the attention's products in bf16 on both
sides: loss 0, predictions 1e-7 to 9e-4, gradients 3e-6 to 4e-3), while the
layers themselves are checked to 1e-5 in tests/unit/test_bf16.c. Then maepipe's bf16 step
against the plain fp32 reference: loss within 1e-2 and predictions within 5e-2 (a product errs
by up to 2^-7 of its terms' magnitudes, and a step is some tens of products deep), gradients
within 5e-2 or, where PyTorch's own CPU bf16 (torch.autocast, run beside it: it also rounds the
attention's products and every linear output) errs more, within 1.25x its worst (a BatchNorm
bias's gradient, a sum over 4 samples that mostly cancels: 0.373 in maepipe's bf16 and 0.373 in
autocast's since maepipe's attention products are bf16 too, 0.1 before; the two round different
operands, so on a gradient that cancels their errors are of one size, not ordered, hence the
margin);
and the loss must differ from fp32's by more than 1e-6 and by more than 4x its
difference from the bf16-product reference's (fp32 agrees to 1e-7, bf16 steps differ from it by
4e-6 and 5e-4 here, and from each other by 0: a step silently in fp32 fails).
"""
import contextlib
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mae_ref  # noqa: E402
from mae_ref import Ref, read_safetensors  # noqa: E402

LOSS_TOL, PRED_TOL, GRAD_TOL = 1e-5, 1e-4, 1e-4
BF16_LOSS_TOL, BF16_PRED_TOL, BF16_TOL = 1e-4, 1e-2, 2e-2   # maepipe bf16 vs the bf16-product reference
BF16_FP32_LOSS, BF16_FP32_TOL = 1e-2, 5e-2      # maepipe bf16 vs the fp32 reference
BF16_AUTOCAST_X = 1.25   # ... or within 1.25x autocast's worst gradient error (see the top)


class _RoundIn(torch.autograd.Function):
    """bf16 rounding of a product's operand on the way in; the gradient passes as it is"""
    @staticmethod
    def forward(ctx, x):
        return x.bfloat16().float()

    @staticmethod
    def backward(ctx, g):
        return g


class _RoundGrad(torch.autograd.Function):
    """the identity, whose gradient (the product's dy) is rounded to bf16 on the way back"""
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g.bfloat16().float()


class bf16_products:
    """Within it, F.linear and the patch embedding's convolutions are maepipe's bf16 products:
    y = round(x) round(W)^T in fp32, + bias after; dx = round(dy) round(W), dW = round(dy)^T
    round(x), dbias = the sum of the fp32 dy. So are the attention's per-head products
    (mae_ref.attn_mm): S = round(q) round(k)^T in fp32, times the scale after (so the gradient
    rounded on the way back is the scaled one's), O = round(P) round(V); the softmax, its
    gradient and the RPE term stay fp32."""
    def __enter__(self):
        F = torch.nn.functional
        self.saved = F.linear, F.conv2d, F.conv3d
        self.saved_mm = mae_ref.attn_mm
        lin, c2, c3 = self.saved
        mae_ref.attn_mm = lambda a, b: _RoundGrad.apply(_RoundIn.apply(a) @ _RoundIn.apply(b))

        def linear(x, w, b=None):
            y = _RoundGrad.apply(lin(_RoundIn.apply(x), _RoundIn.apply(w)))
            return y if b is None else y + b

        def conv(f):
            def g(x, w, b=None, *a, **k):
                y = _RoundGrad.apply(f(_RoundIn.apply(x), _RoundIn.apply(w), None, *a, **k))
                return y if b is None else y + b.view(1, -1, *([1] * (y.dim() - 2)))
            return g
        F.linear, F.conv2d, F.conv3d = linear, conv(c2), conv(c3)
        return self

    def __exit__(self, *exc):
        F = torch.nn.functional
        F.linear, F.conv2d, F.conv3d = self.saved
        mae_ref.attn_mm = self.saved_mm
        return False


def main():
    d = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else d
    torch.manual_seed(0)
    torch.set_num_threads(1)
    weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
    state, _ = read_safetensors(os.path.join(d, "state.safetensors"))
    model = Ref(meta)
    sd = {k: torch.from_numpy(v) for k, v in weights.items()}
    missing = model.load_state_dict(sd, strict=True)   # raises on any name or shape mismatch
    lines, bad = [], 0

    def check(cond, msg):
        nonlocal bad
        lines.append(("ok" if cond else "not ok") + " - " + name + ": " + msg)
        bad += not cond

    check(not missing.missing_keys and not missing.unexpected_keys,
          "maepipe checkpoint loads with load_state_dict(strict=True) (%d tensors)" % len(sd))
    # the fixed tables maepipe wrote equal MAE's util/pos_embed.py (images), MVD's 3-D sin-cos
    # (clips, pos=1) or VideoMAE's sinusoid table (pos=2), each from its own code in mae_ref
    from mae_ref import pos_table
    which = ("VideoMAE's get_sinusoid_encoding_table" if int(meta["pos"]) == 2 else
             "get_3d_sincos_pos_embed" if model.gt > 1 else "util/pos_embed.py")
    for key in ("pos_embed", "decoder_pos_embed"):
        if key in weights:
            ref = pos_table(meta, weights[key].shape[2]).astype(np.float32)
            e = np.abs(weights[key][0] - ref).max()
            check(e < 1e-6, "%s equals %s (max diff %.2g)" % (key, which, e))

    t = lambda k: torch.from_numpy(state[k])
    patches = t("batch.patches")
    mask = t("batch.mask") if meta["mode"] != "mfm" else None
    loss_c = float(state["out.loss"][0])

    def step(mdl, ctx):
        with ctx:
            pred, loss = mdl(patches, mask, windows=t("batch.windows").long(),
                             target=t("batch.target") if meta["mode"] == "mfm" else None,
                             fmask=t("batch.fmask"), labels=t("batch.label").long() if "batch.label" in state else None,
                             feature_target=t("batch.feature_target") if "batch.feature_target" in state else None,
                             contrast_target=t("batch.contrast_target") if "batch.contrast_target" in state else None)
        loss.backward()
        return pred, loss

    def fresh():
        mdl = Ref(meta)
        mdl.load_state_dict(sd, strict=True)
        return mdl

    def grads_of(mdl):
        return {n: (p.grad.numpy() if p.grad is not None else np.zeros(p.shape, np.float32))
                for n, p in mdl.named_parameters() if p.requires_grad}

    def worst_grad(gc, mdl):
        """the worst per-tensor error of gradients gc (name -> array) against mdl's"""
        worst, wname, n = 0.0, "", 0
        for pname, p in mdl.named_parameters():
            if not p.requires_grad:
                continue
            g = p.grad.numpy() if p.grad is not None else np.zeros(p.shape, np.float32)
            scale = np.abs(g).max()
            if pname in ("head.0.bias", "projector.0.bias", "projector.3.bias", "predictor.0.bias"):
                # it feeds BatchNorm (projector.3.bias through predictor.0, a linear map), which
                # subtracts the batch's mean: its gradient is 0 but for rounding on both sides, so
                # the error is measured on the scale of the same layer's weight
                scale = np.abs(dict(mdl.named_parameters())[pname[:-4] + "weight"].grad.numpy()).max()
            e = np.abs(gc[pname] - g).max() / scale if scale > 0 else np.abs(gc[pname]).max()
            n += 1
            if e > worst:
                worst, wname = e, pname
        return worst, wname, n

    bf16 = meta.get("bf16", "0") == "1"
    # bf16: the reference is the model with maepipe's bf16 products (see the top)
    pred, loss = step(model, bf16_products() if bf16 else contextlib.nullcontext())
    LOSS_T, PRED_T, GRAD_T = (BF16_LOSS_TOL, BF16_PRED_TOL, BF16_TOL) if bf16 else (LOSS_TOL, PRED_TOL, GRAD_TOL)
    if bf16:
        name += " [bf16 products]"
    el = abs(loss_c - loss.item()) / abs(loss.item())
    check(el <= LOSS_T, "loss %.7f vs torch %.7f (rel %.2g)" % (loss_c, loss.item(), el))
    if "out.sup_loss" in state:
        sc, st = float(state["out.sup_loss"][0]), model.sup_loss.item()
        es = abs(sc - st) / abs(st)
        check(es <= LOSS_T, "SupMAE's term %.7f vs torch %.7f (rel %.2g)" % (sc, st, es))
    if "out.cl_loss" in state:
        cc, ct = float(state["out.cl_loss"][0]), model.cl_loss.item()
        ec = abs(cc - ct) / abs(ct)
        check(ec <= LOSS_T, "CMAE's term %.7f vs torch %.7f (rel %.2g)" % (cc, ct, ec))
    if "out.dlatent" in state:
        dl, dt = state["out.dlatent"], model.latent.grad.numpy()
        ed = np.abs(dl - dt).max() / np.abs(dt).max()
        check(ed <= GRAD_T and dl.shape == dt.shape, "dlatent, the branch's gradient included (rel %.2g)" % ed)
    pt = pred.detach().numpy()
    ep = np.abs(state["out.pred"] - pt).max() / np.abs(pt).max()
    check(ep <= PRED_T and state["out.pred"].shape == pt.shape, "predictions (rel %.2g)" % ep)
    if "out.pred_feature" in state:   # BootMAE: the feature decoder's predictions
        pf = model.pred_feature.detach().numpy()
        ef = np.abs(state["out.pred_feature"] - pf).max() / np.abs(pf).max()
        check(ef <= PRED_T and state["out.pred_feature"].shape == pf.shape,
              "feature predictions (rel %.2g), feature loss %.6f" % (ef, model.loss_feature.item()))
    gc = {k[5:]: v for k, v in state.items() if k.startswith("grad.")}
    worst, wname, n = worst_grad(gc, model)
    check(worst <= GRAD_T and n == len(gc), "%d parameter gradients (worst rel %.2g: %s)" % (n, worst, wname))
    if bf16:
        # maepipe's bf16 step against the fp32 reference: bf16's effect, within its bounds
        # and not nil; PyTorch's own bf16 (autocast) beside it, for scale
        mf = fresh()
        pf, lf = step(mf, contextlib.nullcontext())
        ma = fresh()
        pa, la = step(ma, torch.autocast("cpu", dtype=torch.bfloat16))
        efl = abs(loss_c - lf.item()) / abs(lf.item())
        eal = abs(la.item() - lf.item()) / abs(lf.item())
        pft = pf.detach().numpy()
        efp = np.abs(state["out.pred"] - pft).max() / np.abs(pft).max()
        eap = np.abs(pa.detach().float().numpy() - pft).max() / np.abs(pft).max()
        wf, wfn, _ = worst_grad(gc, mf)
        wa, wan, _ = worst_grad(grads_of(ma), mf)
        gb = max(BF16_FP32_TOL, BF16_AUTOCAST_X * wa)
        check(1e-6 < efl <= BF16_FP32_LOSS and 4 * el < efl and efp <= BF16_FP32_TOL and wf <= gb,
              "maepipe bf16 vs torch fp32: loss rel %.2g (in (1e-6, %g], > 4x the bf16 reference's), predictions %.2g (<= %g), gradients "
              "worst %.3g (%s) (<= %.3g); torch autocast bf16 vs fp32: loss %.2g, predictions %.2g, "
              "gradients worst %.3g (%s)" % (efl, BF16_FP32_LOSS, efp, BF16_FP32_TOL, wf, wfn, gb, eal, eap, wa, wan))
    print("\n".join(lines))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
