#!/usr/bin/env python3
"""tests/reference/nn_reference.py — PyTorch reference for facefield's nn/ (StyleGAN2 blocks + the seed generator).

Our own code, following the published maths of NVlabs/stylegan2-ada-pytorch (training/networks.py and
torch_utils/ops/{bias_act,upfirdn2d,conv2d_resample}.py, the reference "_ref" paths), with the seed's
modifications (docs/model.md §1.2): 2 mapping layers, ReLU activations, num_ws counted from 1,
channel_min 16, constant noise.

Writes (fixed torch seed; inputs/weights generated in float32, maths in float64, results saved as float32):
  tests/fixtures/nn_blocks.fft     every block: inputs, a random cotangent r, outputs and the gradients of Σ y·r
  tests/fixtures/nn_generator.fft  a small generator (channels ≤ 16, 32 px, 8 output channels): its state_dict,
                                   z, r, the image and every gradient (seed config); image and d_z for the
                                   StyleGAN2 config (lrelu, num_ws 10); the full seed config's parameter count
                                   and every parameter's name and shape.
Run:  /usr/bin/python3 tests/reference/nn_reference.py            (Debian python3-torch 1.13)
The file format is facefield's .fft (tensor/io.h).
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------
# .fft writer (tensor/io.h layout)
_DT = {np.dtype('float32'): 0, np.dtype('float64'): 1, np.dtype('int32'): 2, np.dtype('int64'): 3, np.dtype('uint8'): 4}


def _fnv1a64(data, h=0xcbf29ce484222325):
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def save_fft(path, entries):
    out = bytearray(b'FFTENSOR')
    out += struct.pack('<II', 1, len(entries))
    for name, arr in entries:
        a = np.array(arr, order='C')  # (ascontiguousarray would turn 0-d into 1-d)
        nb = name.encode()
        out += struct.pack('<I', len(nb)) + nb
        out += struct.pack('<BI', _DT[a.dtype], a.ndim)
        out += struct.pack('<%dq' % a.ndim, *a.shape)
        raw = a.astype(a.dtype.newbyteorder('<')).tobytes()
        out += struct.pack('<Q', len(raw)) + raw
    out += struct.pack('<Q', _fnv1a64(bytes(out)))
    with open(path + '.tmp', 'wb') as f:
        f.write(out)
    os.replace(path + '.tmp', path)


# ---------------------------------------------------------------------------------------------------
# ops (the _ref implementations of stylegan2-ada-pytorch)
def setup_filter(taps, dtype=torch.float64):
    f = torch.as_tensor(taps, dtype=dtype)
    f = f.ger(f)  # fewer than 8 taps: non-separable 2-D filter
    return f / f.sum()


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1):
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    x = x.reshape([n, c, h, 1, w, 1])
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape([n, c, h * up, w * up])
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[np.newaxis, np.newaxis].repeat([c, 1] + [1] * f.ndim)
    x = F.conv2d(x, f, groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x, f, up=2):
    fh, fw = f.shape
    p = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, gain=up * up)


def _conv2d_wrapper(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x, w, f=None, up=1, padding=0, groups=1, flip_weight=True):
    out_channels, in_channels_per_group, kh, kw = w.shape
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        fh, fw = f.shape
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_channels_per_group, kh, kw)
            w = w.transpose(1, 2)
            w = w.reshape(groups * in_channels_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d_wrapper(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True,
                            flip_weight=(not flip_weight))
        return upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2)
    assert px0 >= 0
    return _conv2d_wrapper(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)


ACT = {'linear': (lambda x, a: x, 0.0, 1.0),
       'relu': (lambda x, a: F.relu(x), 0.0, np.sqrt(2)),
       'lrelu': (lambda x, a: F.leaky_relu(x, a), 0.2, np.sqrt(2))}


def bias_act(x, b=None, act='linear', alpha=None, gain=None, clamp=None):
    func, def_alpha, def_gain = ACT[act]
    alpha = float(alpha if alpha is not None else def_alpha)
    gain = float(gain if gain is not None else def_gain)
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def fully_connected(x, weight, bias, weight_gain, bias_gain, act):
    w = weight * weight_gain
    b = bias * bias_gain if bias is not None else None
    if act == 'linear' and b is not None:
        return torch.addmm(b.unsqueeze(0), x, w.t())
    return bias_act(x.matmul(w.t()), b, act=act)


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True):
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)
    if not fused_modconv:
        x = x * styles.reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(x, weight, f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            x = x * dcoefs.reshape(batch_size, -1, 1, 1) + noise
        elif demodulate:
            x = x * dcoefs.reshape(batch_size, -1, 1, 1)
        elif noise is not None:
            x = x + noise
        return x
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w, f=resample_filter, up=up, padding=padding, groups=batch_size, flip_weight=flip_weight)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x


# ---------------------------------------------------------------------------------------------------
# modules (networks.py; the seed's choices are constructor arguments)
class FullyConnectedLayer(torch.nn.Module):
    def __init__(self, in_features, out_features, activation='linear', lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], np.float32(bias_init)))
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        return fully_connected(x, self.weight.to(x.dtype), self.bias.to(x.dtype), self.weight_gain, self.bias_gain,
                               self.activation)


class MappingNetwork(torch.nn.Module):
    def __init__(self, z_dim, w_dim, num_ws, num_layers=2, activation='relu', lr_multiplier=0.01):
        super().__init__()
        self.num_ws, self.num_layers = num_ws, num_layers
        features = [z_dim] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(self, f'fc{idx}', FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                                          lr_multiplier=lr_multiplier))
        self.register_buffer('w_avg', torch.zeros([w_dim]))

    def forward(self, z):
        x = normalize_2nd_moment(z)
        for idx in range(self.num_layers):
            x = getattr(self, f'fc{idx}')(x)
        return x.unsqueeze(1).repeat([1, self.num_ws, 1])


class SynthesisLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution, up=1, activation='relu'):
        super().__init__()
        self.resolution, self.up, self.activation = resolution, up, activation
        self.register_buffer('resample_filter', setup_filter([1, 3, 3, 1], torch.float32))
        self.padding = 1
        self.act_gain = ACT[activation][2]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.register_buffer('noise_const', torch.randn([resolution, resolution]))
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w)
        noise = self.noise_const.to(x.dtype) * self.noise_strength.to(x.dtype)  # the seed: noise_mode 'const'
        x = modulated_conv2d(x, self.weight.to(x.dtype), styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter.to(x.dtype), flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain)


class ToRGBLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim):
        super().__init__()
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight.to(x.dtype), styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype))


class SynthesisBlock(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, activation):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.register_buffer('resample_filter', setup_filter([1, 3, 3, 1], torch.float32))
        self.num_conv, self.num_torgb = 0, 1
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, activation=activation)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, activation=activation)
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim)

    def forward(self, x, img, ws, fused_modconv=True):
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(ws.dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), fused_modconv)
        else:
            x = self.conv0(x, next(w_iter), fused_modconv)
            x = self.conv1(x, next(w_iter), fused_modconv)
        if img is not None:
            img = upsample2d(img, self.resample_filter.to(x.dtype))
        y = self.torgb(x, next(w_iter), fused_modconv)
        img = img + y if img is not None else y
        return x, img


class Generator(torch.nn.Module):
    def __init__(self, z_dim=64, w_dim=64, img_resolution=64, img_channels=64, channel_base=4096, channel_max=512,
                 channel_min=16, mapping_layers=2, activation='relu', num_ws_start=1):
        super().__init__()
        self.w_dim = w_dim
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {res: min(max(channel_base // res, channel_min), channel_max) for res in self.block_resolutions}
        self.num_ws = num_ws_start
        blocks = []
        for res in self.block_resolutions:
            in_ch = ch[res // 2] if res > 4 else 0
            blk = SynthesisBlock(in_ch, ch[res], w_dim, res, img_channels, activation)
            self.num_ws += blk.num_conv + (blk.num_torgb if res == img_resolution else 0)
            blocks.append((res, blk))
        # registration order as in stylegan2-ada (mapping after synthesis in Generator.__init__)
        self.synthesis = torch.nn.Module()
        for res, blk in blocks:
            setattr(self.synthesis, f'b{res}', blk)
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, num_layers=mapping_layers, activation=activation)

    def synthesize(self, ws, fused_modconv=True):
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            blk = getattr(self.synthesis, f'b{res}')
            x, img = blk(x, img, ws.narrow(1, w_idx, blk.num_conv + blk.num_torgb), fused_modconv)
            w_idx += blk.num_conv
        return img

    def forward(self, z, fused_modconv=True):
        return self.synthesize(self.mapping(z), fused_modconv)


# ---------------------------------------------------------------------------------------------------
def f32(t):
    return t.detach().to(torch.float32).cpu().numpy()


def run_blocks(entries):
    """Each case: inputs (f32, saved), y = op(inputs) in f64, r ~ randn, gradients of Σ y·r."""
    f = setup_filter([1, 3, 3, 1])
    fa = torch.tensor([[1, 2, 0.5], [-1, 3, 0.25]], dtype=torch.float64)

    def case(name, fn, inputs):
        xs = [torch.randn(s).double().requires_grad_(True) for s in inputs]
        y = fn(*xs)
        r = torch.randn(y.shape).double()
        (y * r).sum().backward()
        for i, x in enumerate(xs):
            entries.append((f'{name}.in{i}', f32(x)))
            entries.append((f'{name}.grad{i}', f32(x.grad)))
        entries.append((f'{name}.out', f32(y)))
        entries.append((f'{name}.r', f32(r)))

    case('upsample2d', lambda x: upsample2d(x, f), [[2, 3, 5, 6]])
    case('upfirdn2d_down', lambda x: upfirdn2d(x, fa, down=2, padding=(2, -1, 1, 0), flip_filter=True), [[2, 3, 5, 6]])
    case('upfirdn2d_up3', lambda x: upfirdn2d(x, fa, up=3, down=2, padding=(1, 2, 0, 3), gain=2.5), [[1, 2, 4, 5]])
    case('conv2d_resample_up2', lambda x, w: conv2d_resample(x, w, f, up=2, padding=1, flip_weight=False),
         [[2, 4, 5, 5], [3, 4, 3, 3]])
    case('conv2d_resample_up1', lambda x, w: conv2d_resample(x, w, f, up=1, padding=1), [[2, 4, 5, 5], [3, 4, 3, 3]])
    for fused in (True, False):
        for up in (1, 2):
            case(f'modconv_up{up}_{"fused" if fused else "persample"}',
                 lambda x, w, s, n, up=up, fused=fused: modulated_conv2d(
                     x, w, s, noise=n, up=up, padding=1, resample_filter=f, flip_weight=(up == 1),
                     fused_modconv=fused),
                 [[2, 4, 4, 4], [5, 4, 3, 3], [2, 4], [4 * up, 4 * up]])
    case('modconv_nodemod', lambda x, w, s: modulated_conv2d(x, w, s, demodulate=False, fused_modconv=True),
         [[2, 4, 4, 4], [5, 4, 1, 1], [2, 4]])
    case('bias_act_lrelu_clamp', lambda x, b: bias_act(x, b, act='lrelu', clamp=0.8), [[2, 3, 4], [3]])
    case('bias_act_relu', lambda x, b: bias_act(x, b, act='relu'), [[2, 3, 4], [3]])
    case('fc_relu_lr001', lambda x, w, b: fully_connected(x, w * 100, b, 0.01 / np.sqrt(6), 0.01, 'relu'),
         [[3, 6], [5, 6], [5]])
    case('fc_linear', lambda x, w, b: fully_connected(x, w, b, 1 / np.sqrt(6), 1.0, 'linear'), [[3, 6], [5, 6], [5]])
    case('normalize_2nd_moment', lambda x: normalize_2nd_moment(x), [[3, 7]])


SMALL = dict(z_dim=64, w_dim=64, img_resolution=32, img_channels=8, channel_base=4096, channel_max=16, channel_min=16)


def run_generator(entries):
    G = Generator(**SMALL, activation='relu', num_ws_start=1)
    with torch.no_grad():  # non-zero noise strengths and biases so every path is exercised
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.copy_(torch.rand([]) * 0.5 + 0.1)
            elif name.endswith('bias') and 'affine' not in name and 'mapping' not in name:
                p.copy_(torch.randn(p.shape) * 0.1)
    for name, t in G.state_dict().items():
        entries.append(('G.' + name, f32(t)))
    G = G.double()
    z = torch.randn([1, 64]).double().requires_grad_(True)
    img = G(z, fused_modconv=False)
    r = torch.randn(img.shape).double()
    (img * r).sum().backward()
    img_fused = G(z.detach(), fused_modconv=True)
    assert (img - img_fused).abs().max().item() < 1e-9
    entries += [('z', f32(z)), ('r', f32(r)), ('img', f32(img)), ('grad.z', f32(z.grad))]
    for name, p in G.named_parameters():
        entries.append(('grad.' + name, f32(p.grad)))
    entries.append(('num_ws', np.array([G.num_ws], dtype=np.int64)))
    # the StyleGAN2 choices (lrelu, num_ws from 0) on the same weights
    G2 = Generator(**SMALL, activation='lrelu', num_ws_start=0).double()
    G2.load_state_dict(G.state_dict(), strict=False)  # w_avg shape is the same; mapping.num_ws differs only
    z2 = z.detach().clone().requires_grad_(True)
    img2 = G2(z2, fused_modconv=False)
    (img2 * r).sum().backward()
    entries += [('sg2.img', f32(img2)), ('sg2.grad.z', f32(z2.grad)), ('sg2.num_ws', np.array([G2.num_ws], np.int64))]
    # the full seed configuration: parameter count, names and shapes
    Gs = Generator()
    total = sum(p.numel() for p in Gs.parameters())
    mapping = sum(p.numel() for n, p in Gs.named_parameters() if n.startswith('mapping.'))
    entries.append(('seed.param_count', np.array([total, mapping, total - mapping], dtype=np.int64)))
    entries.append(('seed.num_ws', np.array([Gs.num_ws], dtype=np.int64)))
    for name, p in Gs.named_parameters():
        entries.append(('seed.shape.' + name, np.array(p.shape, dtype=np.int64)))
    print(f'seed generator: {total} parameters (mapping {mapping}, synthesis {total - mapping}), num_ws {Gs.num_ws}')


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                 '..', 'fixtures')
    torch.manual_seed(1234)
    blocks = []
    run_blocks(blocks)
    save_fft(os.path.join(out_dir, 'nn_blocks.fft'), blocks)
    torch.manual_seed(5678)
    gen = []
    run_generator(gen)
    save_fft(os.path.join(out_dir, 'nn_generator.fft'), gen)
    for fn in ('nn_blocks.fft', 'nn_generator.fft'):
        print(fn, os.path.getsize(os.path.join(out_dir, fn)), 'bytes')


if __name__ == '__main__':
    main()
