# Dev check on the GPU machine (PyTorch there is an oracle, never a product dependency): re-runs
# sample.py's unconditional call0 of a sampler fixture in PyTorch from its weights and recorded noise
# (fp32 model, fp64 sampler state; TF32=1 allows TF32 as sample.py does; SDPA_MATH=1 forces SDPA's math
# path, which takes attention's products through TF32 too) and reports agreement with the recorded samples.
# usage: mkdir -p .gpu/oracle && cp -r ../shared/fixtures/sampler .gpu/oracle/ ; on the GPU machine:
#        python3 gpu/oracle/sampler_oracle.py .gpu/oracle/sampler/small $OUT   (carry .gpu/oracle)
import json, struct, sys, torch, torch.nn.functional as F
import numpy as np
import contextlib
import os
tf32 = os.environ.get('TF32') == '1'
sdpa_math = os.environ.get('SDPA_MATH') == '1'
torch.backends.cuda.matmul.allow_tf32 = tf32
torch.backends.cudnn.allow_tf32 = tf32
d = sys.argv[1]; out = sys.argv[2]
dev = 'cuda'
def st_load(path):
    b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); base = 8 + n
    dt = {'F64': np.float64, 'F32': np.float32, 'I64': np.int64}
    return {k: torch.from_numpy(np.frombuffer(b[base+v['data_offsets'][0]:base+v['data_offsets'][1]], dtype=dt[v['dtype']]).reshape(v['shape']).copy())
            for k, v in h.items() if k != '__metadata__'}
cfg = json.load(open(f'{d}/config.json'))
W = {m: {k: v.to(dev) for k, v in torch.load(f'{d}/{m}.pt', map_location=dev).items()} for m in ['model', 'noise_schedule', 'gamma_bounds', 'embedding_matrix']}
tr = st_load(f'{d}/trajectories.safetensors')
D, L, H, E = cfg['dim'], cfg['n_blocks'], cfg['n_heads'], cfg['embed_dim']
M = W['model']
def gamma_tilde(t):
    ns = W['noise_schedule']
    W1 = F.softplus(ns['W1'].double()); W2 = 0.01 * F.softplus(ns['W2'].double())
    def g(t):
        h = t[:, None] - 0.5; h = h @ W1.T + ns['b1'][None, :].double(); return (torch.tanh(h) @ W2.T)[:, 0]
    z0 = g(torch.tensor([0.], device=dev, dtype=torch.float64)); z1 = g(torch.tensor([1.], device=dev, dtype=torch.float64))
    return (g(t) - z0) / (z1 - z0)
E_mat = W['embedding_matrix']['matrix']; E_hat = E_mat / (torch.linalg.norm(E_mat, dim=1, keepdim=True) + 1e-8)
def model(z, gamma, x_sc):
    a2 = torch.sigmoid(-gamma)[:, None, None]; s2 = torch.sigmoid(gamma)[:, None, None]; alpha = a2.sqrt()
    x = z / (a2 / E + s2).sqrt().float()
    x = x @ M['input_linear.weight'].T + (x_sc * float(np.sqrt(E))) @ M['selfcond_linear.weight'].T
    ge = torch.linspace(-5., 5., 32, device=dev, dtype=torch.float64).exp()[None, :] * gamma[:, None]
    ge = torch.cat([ge.sin(), ge.cos()], dim=1).float() @ M['gamma_linear.weight'].T
    x = x + ge[:, None, :]
    B, S = z.shape[0], z.shape[1]; d = D // H
    inv = M['rotary_emb.inv_freq']; t = torch.arange(S, device=dev).type_as(inv)
    fr = torch.einsum('i,j->ij', t, inv); emb = torch.cat((fr, fr), dim=-1); cos, sin = emb.cos(), emb.sin()
    r = 1. / np.sqrt(L)
    for i in range(L):
        p = f'blocks.{i}.'
        a = F.rms_norm(x, [D], M[p + 'rmsnorm1.weight'], eps=1e-5)
        qkv = (a @ M[p + 'attn_qkv.weight'].T).view(B, S, 3, H, d)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        def rot(u):
            u1, u2 = u[..., :d // 2], u[..., d // 2:]
            return u * cos[None, :, None, :] + torch.cat((-u2, u1), dim=-1) * sin[None, :, None, :]
        q, k = rot(q), rot(k)
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH) if sdpa_math else contextlib.nullcontext():
            o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2).reshape(B, S, D)
        x = torch.addmm(x.view(-1, D), o.reshape(-1, D), M[p + 'attn_out.weight'].T, alpha=r).view(B, S, D)
        b = F.rms_norm(x, [D], M[p + 'rmsnorm2.weight'], eps=1e-5)
        h = F.gelu(b @ M[p + 'mlp.fc1.weight'].T, approximate='tanh') @ M[p + 'mlp.fc2.weight'].T
        x = torch.add(x, h, alpha=r)
    x = F.layer_norm(x.float(), [D]) * M['output_norm.weight'][None, None, :]
    x = x * (256. / D)
    zb = 1.0 * (alpha / s2).float() * z
    logits = torch.addmm(M['output_linear.bias'].view(1, -1), torch.cat([x, zb * 0, zb], dim=2).view(-1, D + 2 * E),
                         torch.cat([M['output_linear.weight'].T, E_hat.T, E_hat.T], dim=0)).view(B, S, -1)
    xr = F.softmax(logits, dim=2) @ E_hat
    return logits, xr
T = cfg['sampling_timesteps']; temp = cfg['score_temp']
gb = W['gamma_bounds']; g0, g1 = gb['gamma_0'].double(), gb['gamma_1'].double()
with torch.no_grad():
    z = tr['call0.initial_z'].to(dev); noise = tr['call0.step_noise'].to(dev)
    x_sc = torch.zeros_like(z).float(); zs = []
    for i, t in enumerate(torch.linspace(1., 0., T, dtype=torch.float64)):
        t = t[None].to(dev); s = t - 1. / T
        gs = g0 + (g1 - g0) * gamma_tilde(s); gt = g0 + (g1 - g0) * gamma_tilde(t)
        a2s, a2t = torch.sigmoid(-gs), torch.sigmoid(-gt); at = a2t.sqrt(); st = torch.sigmoid(gt).sqrt()
        _, xr = model(z.float(), gt.float(), x_sc); x_sc = xr.clone(); xr = xr.double()
        eps = (z - at * xr) / st; eps /= temp; xr = (z - st * eps) / at
        if t > 0:
            c = -torch.expm1(gs - gt)
            z = z * ((1 - c) * a2s.sqrt() / a2t.sqrt()) + c * (a2s.sqrt() * xr) + (c * (1 - a2s)).sqrt() * noise[i]
        zs.append(z.clone())
    logits, _ = model(z.float(), gt.float(), x_sc)
    samples = logits.argmax(-1).cpu()
rec = tr['call0.samples']
print('torch re-run vs recorded samples:', int((samples == rec).sum()), '/', rec.numel())
top2 = logits.topk(2, dim=-1).values; gap = (top2[..., 0] - top2[..., 1]).cpu()
bad = (samples != rec).nonzero()
for b, p in bad.tolist(): print('  disagree at', b, p, 'gap', float(gap[b, p]))
torch.save({'z_steps': torch.stack(zs).cpu(), 'final_logits_top2_gap': gap}, f'{out}/torch_call0.pt')
