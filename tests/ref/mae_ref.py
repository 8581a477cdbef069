"""PyTorch reference models for maepipe's parity tests.

Written for this test, mirroring facebookresearch/mae models_mae.py (MaskedAutoencoderViT) with
timm 0.3.2's Block/Attention/Mlp, LoMaR's models_lomar.py with iRPE (contextual, product,
shared heads, skip 1, on keys; irpe.py), SimMIM's VisionTransformerForSimMIM with a linear head,
and MFM's frequency loss. State-dict names follow models_mae.py, so a maepipe checkpoint loads
with load_state_dict(strict=True).

Deliberate, documented differences from the originals (also in mae-checkpoint(5)):
  * the mask is an input: MAE keeps the visible patches in ascending order (argsort of the mask)
    instead of a random shuffle, which leaves the maths unchanged;
  * LoMaR: sequence s = b*M + m is image b with its window m (the original pairs image j mod B
    with window j mod M); SimMIM/LoMaR/MFM heads are one Linear named decoder_pred emitting
    MAE's (a, b, c) patch order;
  * SimMIM uses the fixed sin-cos absolute position (its ViT-B config uses a shared relative
    bias instead);
  * BootMAE (feat_depth > 0): the feature predictor is a second MAE decoder (FeatureDecoder:
    its own embed, mask token, sin-cos pos, blocks, norm and a Linear head to the encoder's
    width), without BootMAE's target-aware cross-attention to the encoder's shallow features;
    its MSE against the given momentum-encoder features, over the masked patches, times
    feat_weight, adds to the pixel loss.
  * VideoMAE (frames > 1): the tubelet embedding is VideoMAE's Conv3d(c, D, (t, p, p)) on the
    clip [B, c, T, H, W], tokens in (t h w) order; the position tables are MVD/VideoMAE V2's
    get_3d_sincos_pos_embed (pos=1) or VideoMAE's get_sinusoid_encoding_table (pos=2), behind
    MAE's cls token with a zero row (VideoMAE has no cls token); the normtube target is
    VideoMAE's engine_for_pretraining.py normalization per tubelet and channel, on the
    stream's normalized values (VideoMAE first un-normalizes to [0, 1]).
Only the standard library, numpy and torch are used (Debian has no safetensors package).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "U8": np.uint8, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    """name -> numpy array, and the __metadata__ dict (safetensors layout, by hand)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        arr = np.frombuffer(data[b:en], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = arr.copy()
    return out, meta


# ---------------------------------------------------------------------------------------------
# util/pos_embed.py, verbatim maths (float64 numpy, cast by the model)

def get_2d_sincos_pos_embed(embed_dim, grid_size, cls_token=False):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])
    emb = get_2d_sincos_pos_embed_from_grid(embed_dim, grid)
    if cls_token:
        emb = np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)
    return emb


def get_2d_sincos_pos_embed_from_grid(embed_dim, grid):
    emb_h = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])
    emb_w = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


def get_1d_sincos_pos_embed_from_grid(embed_dim, pos):
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.
    omega = 1. / 10000 ** omega
    pos = pos.reshape(-1)
    out = np.einsum('m,d->md', pos, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


# MVD / VideoMAE V2 (utils get_3d_sincos_pos_embed), for a gt x gh x gw grid, verbatim maths
def get_3d_sincos_pos_embed(embed_dim, gh, gw, t_size, cls_token=False):
    assert embed_dim % 4 == 0
    embed_dim_spatial = embed_dim // 4 * 3
    embed_dim_temporal = embed_dim // 4
    grid_h = np.arange(gh, dtype=np.float32)
    grid_w = np.arange(gw, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, gh, gw])
    pos_embed_spatial = get_2d_sincos_pos_embed_from_grid(embed_dim_spatial, grid)
    grid_t = np.arange(t_size, dtype=np.float32)
    pos_embed_temporal = get_1d_sincos_pos_embed_from_grid(embed_dim_temporal, grid_t)
    pos_embed_temporal = np.repeat(pos_embed_temporal[:, np.newaxis, :], gh * gw, axis=1)
    pos_embed_spatial = np.repeat(pos_embed_spatial[np.newaxis, :, :], t_size, axis=0)
    pos_embed = np.concatenate([pos_embed_temporal, pos_embed_spatial], axis=-1).reshape([-1, embed_dim])
    if cls_token:
        pos_embed = np.concatenate([np.zeros([1, embed_dim]), pos_embed], axis=0)
    return pos_embed


# VideoMAE modeling_pretrain.py / modeling_finetune.py get_sinusoid_encoding_table, verbatim maths
def get_sinusoid_encoding_table(n_position, d_hid):
    def get_position_angle_vec(position):
        return [position / np.power(10000, 2 * (hid_j // 2) / d_hid) for hid_j in range(d_hid)]
    sinusoid_table = np.array([get_position_angle_vec(pos_i) for pos_i in range(n_position)])
    sinusoid_table[:, 0::2] = np.sin(sinusoid_table[:, 0::2])
    sinusoid_table[:, 1::2] = np.cos(sinusoid_table[:, 1::2])
    return sinusoid_table


def pos_table(cfg, D):
    """(1 + N, D) with the cls row zero: maepipe's choice by pos and the grid"""
    g = lambda k: int(cfg.get(k, 1))
    gh, gw = g("img_h") // g("patch"), g("img_w") // g("patch")
    gt = g("frames") // g("tubelet")
    if g("pos") == 2:
        t = get_sinusoid_encoding_table(gt * gh * gw, D)
        return np.concatenate([np.zeros([1, D]), t], axis=0)
    if gt > 1:
        return get_3d_sincos_pos_embed(D, gh, gw, gt, True)
    assert gh == gw
    return get_2d_sincos_pos_embed(D, gh, True)


# ---------------------------------------------------------------------------------------------
# iRPE (irpe.py): piecewise index, product method, skip token

def piecewise_index(rp, alpha=1.9, beta=3.8, gamma=15.2):
    rp_abs = rp.abs()
    mask = rp_abs <= alpha
    not_mask = ~mask
    rp_out = rp[not_mask].float()
    rp_abs_out = rp_abs[not_mask].float()
    y_out = (torch.sign(rp_out) * (alpha + torch.log(rp_abs_out / alpha) /
             math.log(gamma / alpha) * (beta - alpha)).round().clip(max=beta)).long()
    idx = rp.clone()
    idx[not_mask] = y_out
    return idx


def irpe_buckets(K):
    rows = torch.arange(K).view(K, 1).repeat(1, K)
    cols = torch.arange(K).view(1, K).repeat(K, 1)
    pos = torch.stack([rows, cols], 2).view(K * K, 2)
    diff = pos[:, None, :] - pos[None, :, :]
    beta_int = 3
    S = 2 * beta_int + 1
    r = piecewise_index(diff[:, :, 0]) + beta_int
    c = piecewise_index(diff[:, :, 1]) + beta_int
    b = r * S + c
    nb = S * S
    full = torch.full((K * K + 1, K * K + 1), nb, dtype=torch.long)
    full[1:, 1:] = b
    return full, nb + 1


class RPE(nn.Module):
    def __init__(self, head_dim, nb):
        super().__init__()
        self.lookup_table_weight = nn.Parameter(torch.zeros(1, head_dim, nb))


# ---------------------------------------------------------------------------------------------
# timm 0.3.2 Block


def attn_mm(a, b):
    """the attention's per-head products (q k^T, P V): a @ b; parity.py's bf16_products puts
    maepipe's bf16 products in its place"""
    return a @ b


class Attention(nn.Module):
    def __init__(self, dim, num_heads, rpe_nb=0):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.rpe_k = RPE(head_dim, rpe_nb) if rpe_nb else None
        self.bucket = None
        self.last_attn = None

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = attn_mm(q, k.transpose(-2, -1)) * self.scale
        if self.rpe_k is not None:
            # contextual on keys: q_i . R[:, bucket(i, j)] with q unscaled
            lt = torch.matmul(q, self.rpe_k.lookup_table_weight[0])          # (B, H, N, nb)
            attn = attn + torch.gather(lt, 3, self.bucket.view(1, 1, N, N).expand(B, self.num_heads, N, N))
        attn = attn.softmax(dim=-1)
        self.last_attn = attn
        x = attn_mm(attn, v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, rpe_nb=0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, rpe_nb)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class PatchEmbed(nn.Module):
    def __init__(self, c, dim, p, t=0):
        super().__init__()
        # t > 0: VideoMAE's tubelet embedding, Conv3d with kernel = stride = (t, p, p)
        self.proj = nn.Conv3d(c, dim, kernel_size=(t, p, p), stride=(t, p, p)) if t else nn.Conv2d(c, dim, kernel_size=p, stride=p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class FeatureDecoder(nn.Module):
    """BootMAE's feature predictor as a second MAE decoder: the latent (cls + visible tokens,
    ascending) to a D-wide prediction for every patch."""

    def __init__(self, D, Dd, heads, depth, mlp, N, table):
        super().__init__()
        self.embed = nn.Linear(D, Dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
        self.pos_embed = nn.Parameter(torch.zeros(1, N + 1, Dd), requires_grad=False)
        self.pos_embed.data.copy_(torch.from_numpy(table).float().unsqueeze(0))
        self.blocks = nn.ModuleList([Block(Dd, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(Dd, eps=1e-6)
        self.pred = nn.Linear(Dd, D)

    def forward(self, latent, ids_restore):
        x = self.embed(latent)
        B = x.shape[0]
        mask_tokens = self.mask_token.repeat(B, ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.pred(self.norm(x))[:, 1:, :]


# ---------------------------------------------------------------------------------------------

class Ref(nn.Module):
    """MAE / SimMIM / LoMaR / MFM, configured from a maepipe checkpoint's metadata."""

    def __init__(self, cfg):
        super().__init__()
        g = lambda k: int(cfg[k])
        self.mode, self.loss_kind = cfg["mode"], cfg["loss"]
        self.c, self.p, self.H, self.W = g("channels"), g("patch"), g("img_h"), g("img_w")
        self.gh, self.gw = self.H // self.p, self.W // self.p
        self.T, self.t = int(cfg.get("frames", 1)), int(cfg.get("tubelet", 1))
        self.video = self.T > 1
        self.gt = self.T // self.t
        self.N, self.P = self.gt * self.gh * self.gw, self.t * self.p * self.p * self.c
        D, heads, depth, mlp = g("dim"), g("heads"), g("depth"), g("mlp_ratio")
        self.D = D
        self.K, self.M = g("window"), g("nwindows")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        if g("pos"):
            self.pos_embed = nn.Parameter(torch.zeros(1, self.N + 1, D), requires_grad=False)
            self.pos_embed.data.copy_(torch.from_numpy(pos_table(cfg, D)).float().unsqueeze(0))
        else:
            self.pos_embed = None
        self.patch_embed = PatchEmbed(self.c, D, self.p, self.t if self.video else 0)
        rpe_nb = 0
        if self.mode == "lomar":
            self.bucket, rpe_nb = irpe_buckets(self.K)
        if self.mode in ("simmim", "lomar"):
            self.mask_token = nn.Parameter(torch.zeros(1, 1, D))
        self.blocks = nn.ModuleList([Block(D, heads, mlp, rpe_nb) for _ in range(depth)])
        if rpe_nb:
            for b in self.blocks:
                b.attn.bucket = self.bucket
        self.norm = nn.LayerNorm(D, eps=1e-6)
        if self.mode == "mae":
            Dd = g("dec_dim")
            self.decoder_embed = nn.Linear(D, Dd)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
            self.decoder_pos_embed = nn.Parameter(torch.zeros(1, self.N + 1, Dd), requires_grad=False)
            self.decoder_pos_embed.data.copy_(torch.from_numpy(pos_table(cfg, Dd)).float().unsqueeze(0))
            self.decoder_blocks = nn.ModuleList([Block(Dd, g("dec_heads"), mlp) for _ in range(g("dec_depth"))])
            self.decoder_norm = nn.LayerNorm(Dd, eps=1e-6)
            self.decoder_pred = nn.Linear(Dd, self.P)
            self.feat_weight = float(cfg.get("feat_weight", 1))
            if int(cfg.get("feat_depth", 0)):
                self.feature_decoder = FeatureDecoder(D, Dd, g("dec_heads"), g("feat_depth"), mlp, self.N, pos_table(cfg, Dd))
            # SupMAE's branch (METHODS 5.7): Linear(D, 4D) -> BatchNorm1d -> ReLU -> Linear(4D, K)
            # on the mean of the visible tokens; BatchNorm1d in training mode without running
            # statistics (maepipe keeps none), so the state dict has no buffers for it
            self.sup_classes = int(cfg.get("sup_classes", 0))
            if self.sup_classes:
                self.sup_weight, self.sup_temp = float(cfg["sup_weight"]), float(cfg["sup_temp"])
                self.head = nn.Sequential(nn.Linear(D, mlp * D), nn.BatchNorm1d(mlp * D, eps=1e-5, track_running_stats=False),
                                          nn.ReLU(), nn.Linear(mlp * D, self.sup_classes))
            # CMAE's branch: projector D -> mlp D -> cl_dim and predictor cl_dim -> mlp D -> D,
            # each Linear -> BatchNorm1d (batch statistics) -> ReLU -> Linear, on the mean of the
            # visible tokens; InfoNCE against the teacher's pooled feature (a constant)
            self.cl_dim = int(cfg.get("cl_dim", 0))
            if self.cl_dim:
                self.cl_weight, self.cl_temp = float(cfg["cl_weight"]), float(cfg["cl_temp"])
                bnmlp = lambda i, o: nn.Sequential(nn.Linear(i, mlp * D), nn.BatchNorm1d(mlp * D, eps=1e-5, track_running_stats=False),
                                                   nn.ReLU(), nn.Linear(mlp * D, o))
                self.projector, self.predictor = bnmlp(D, self.cl_dim), bnmlp(self.cl_dim, D)
        else:
            self.decoder_pred = nn.Linear(D, self.P)

    # models_mae.py patchify/unpatchify, with c channels; for clips [B, c, T, H, W], VideoMAE's
    # 'b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2 c)' and back
    def patchify(self, imgs):
        p, h, w, c = self.p, self.gh, self.gw, self.c
        if self.video:
            x = imgs.reshape(imgs.shape[0], c, self.gt, self.t, h, p, w, p)
            x = torch.einsum('ncgthpwq->nghwtpqc', x)
            return x.reshape(imgs.shape[0], self.N, self.P)
        x = imgs.reshape(imgs.shape[0], c, h, p, w, p)
        x = torch.einsum('nchpwq->nhwpqc', x)
        return x.reshape(imgs.shape[0], h * w, p * p * c)

    def unpatchify(self, x):
        p, h, w, c = self.p, self.gh, self.gw, self.c
        if self.video:
            x = x.reshape(x.shape[0], self.gt, h, w, self.t, p, p, c)
            x = torch.einsum('nghwtpqc->ncgthpwq', x)
            return x.reshape(x.shape[0], c, self.T, h * p, w * p)
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum('nhwpqc->nchpwq', x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def norm_pix(self, target):
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        return (target - mean) / (var + 1.e-6) ** .5

    def norm_tube(self, target):
        # VideoMAE engine_for_pretraining.py: per tubelet and channel over (p0 p1 p2), unbiased
        # std, eps outside the root
        sq = target.reshape(target.shape[0], target.shape[1], -1, self.c)
        sq = (sq - sq.mean(dim=-2, keepdim=True)) / (sq.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
        return sq.reshape(target.shape)

    def mse(self, pred, target, mask):
        if self.loss_kind == "normpix":
            target = self.norm_pix(target)
        elif self.loss_kind == "normtube":
            target = self.norm_tube(target)
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, patches, mask, windows=None, target=None, fmask=None, labels=None, feature_target=None,
                contrast_target=None):
        imgs = self.unpatchify(patches)
        tgt = self.patchify(self.unpatchify(target)) if target is not None else self.patchify(imgs)
        mask = mask.float() if mask is not None else None
        B = imgs.shape[0]
        x = self.patch_embed(imgs)
        if self.mode == "mae":
            x = x + self.pos_embed[:, 1:, :]
            len_keep = int((mask[0] == 0).sum())
            ids_shuffle = torch.sort(mask, dim=1, stable=True).indices   # visible first, ascending
            ids_restore = torch.argsort(ids_shuffle, dim=1)
            ids_keep = ids_shuffle[:, :len_keep]
            x = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, self.D))
            cls = self.cls_token + self.pos_embed[:, :1, :]
            x = torch.cat((cls.expand(B, -1, -1), x), dim=1)
            for blk in self.blocks:
                x = blk(x)
            x = self.norm(x)
            x.retain_grad()
            latent = x
            self.latent, self.sup_loss = x, None   # the latent's gradient: the decoder stage's dlatent
            if getattr(self, "sup_classes", 0):
                logits = self.head(x[:, 1:, :].mean(dim=1))
                self.sup_loss = self.sup_weight * F.cross_entropy(logits / self.sup_temp, labels)
            self.cl_loss = None
            if getattr(self, "cl_dim", 0):
                q = F.normalize(self.predictor(self.projector(x[:, 1:, :].mean(dim=1))), dim=1)
                k = F.normalize(contrast_target.detach(), dim=1)
                logits = q @ k.t() / self.cl_temp
                self.cl_loss = self.cl_weight * F.cross_entropy(logits, torch.arange(B))
            x = self.decoder_embed(x)
            mask_tokens = self.mask_token.repeat(B, ids_restore.shape[1] + 1 - x.shape[1], 1)
            x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
            x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
            x = torch.cat([x[:, :1, :], x_], dim=1)
            x = x + self.decoder_pos_embed
            for blk in self.decoder_blocks:
                x = blk(x)
            x = self.decoder_norm(x)
            pred = self.decoder_pred(x)[:, 1:, :]
            loss = self.mse(pred, tgt, mask)
            if hasattr(self, "feature_decoder"):
                pf = self.feature_decoder(latent, ids_restore)
                self.pred_feature = pf
                lf = ((pf - feature_target) ** 2).mean(dim=-1)
                self.loss_feature = (lf * mask).sum() / mask.sum()
                loss = loss + self.feat_weight * self.loss_feature
            if self.sup_loss is not None:
                loss = loss + self.sup_loss
            return pred, loss if self.cl_loss is None else loss + self.cl_loss
        if self.mode == "lomar":
            K, M = self.K, self.M
            rows = torch.arange(K).view(K, 1) * self.gw + torch.arange(K).view(1, K)
            ids = []
            for b in range(B):
                for m in range(M):
                    top, left = int(windows[b, m, 0]), int(windows[b, m, 1])
                    ids.append(rows.reshape(-1) + top * self.gw + left)
            ids = torch.stack(ids)                                   # (B*M, K*K)
            img = torch.arange(B).repeat_interleave(M)
            xw = x[img.view(-1, 1), ids]                             # (B*M, K*K, D)
            w = mask[img.view(-1, 1), ids].unsqueeze(-1)
            xw = xw * (1 - w) + self.mask_token * w
            xw = torch.cat((self.cls_token.expand(B * M, -1, -1), xw), dim=1)
            for blk in self.blocks:
                xw = blk(xw)
            xw = self.norm(xw)
            pred = self.decoder_pred(xw[:, 1:, :])                   # (B*M, K*K, P)
            t = tgt[img.view(-1, 1), ids]
            loss = self.mse(pred, t, w.squeeze(-1))
            return pred.reshape(B, M * K * K, self.P), loss
        # simmim, mfm: all tokens
        if self.mode == "simmim":
            w = mask.unsqueeze(-1)
            x = x * (1 - w) + self.mask_token * w
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        pred = self.decoder_pred(x[:, 1:, :])
        if self.loss_kind == "l1":
            # SimMIM: per-pixel mask, sum over channels, mean over masked pixels, / in_chans
            pm = mask.reshape(B, self.gh, self.gw).repeat_interleave(self.p, 1).repeat_interleave(self.p, 2).unsqueeze(1)
            rec = self.unpatchify(pred)
            l = F.l1_loss(self.unpatchify(tgt), rec, reduction='none')
            return pred, (l * pm).sum() / (pm.sum() + 1e-5) / self.c
        if self.loss_kind == "freq":
            d = self.unpatchify(pred) - self.unpatchify(tgt)
            fd = torch.fft.fft2(d, norm="ortho")
            mag = torch.sqrt(fd.real ** 2 + fd.imag ** 2 + 1e-12)
            fm = fmask.float().unsqueeze(1)
            return pred, (mag * fm).sum() / (fm.sum() * self.c)
        return pred, self.mse(pred, tgt, mask if mask is not None else torch.ones(B, self.N))
