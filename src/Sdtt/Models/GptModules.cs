using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sdtt.Models;

// Field names below are the HF GPT-2 state-dict names (h.0.attn.c_attn.weight, …); do not rename them.
#pragma warning disable IDE1006

/// <summary>Causal self-attention of GPT-2: fused q/k/v projection <c>c_attn</c> [3D, D] (channels [0,D) = q, [D,2D) = k,
/// [2D,3D) = v, each split into heads), scaled dot-product attention, output projection <c>c_proj</c>. Weights are stored
/// PyTorch-style [out, in]; HF's Conv1D [in, out] layout is transposed by <see cref="Sdtt.IO.GptModelFolder"/>.</summary>
public sealed class GptAttention : nn.Module
{
    private readonly Linear c_attn;
    private readonly Linear c_proj;
    private readonly int _heads;
    private readonly double _dropout;

    /// <summary>Builds the layer for <paramref name="cfg"/>.</summary>
    public GptAttention(GptConfig cfg) : base("attn")
    {
        c_attn = nn.Linear(cfg.HiddenSize, 3L * cfg.HiddenSize);
        c_proj = nn.Linear(cfg.HiddenSize, cfg.HiddenSize);
        _heads = cfg.NHeads;
        _dropout = cfg.Dropout;
        RegisterComponents();
    }

    /// <summary>Output projection (its weight gets the scaled GPT-2 initialisation).</summary>
    public Linear OutProjection => c_proj;

    /// <summary>Stores the projections in <paramref name="dtype"/>.</summary>
    internal void CastLinearWeights(ScalarType dtype) { c_attn.to(dtype); c_proj.to(dtype); }

    /// <summary>u [B, L, D] (LayerNorm output) → attention output [B, L, D] in the compute dtype. With a cache, the new keys and
    /// values are appended to <paramref name="cache"/> at its cursor (layer <paramref name="layer"/>) and the queries attend
    /// to every stored position up to their own.</summary>
    public Tensor Forward(Tensor u, KvCache? cache, int layer, ModelPrecision p)
    {
        long b = u.shape[0], l = u.shape[1], d = u.shape[2], hd = d / _heads;
        var qkv = DitOps.Linear(u, c_attn.weight!, c_attn.bias, p).view(b, l, 3, _heads, hd);
        var q = qkv[.., .., 0].transpose(1, 2);
        var k = qkv[.., .., 1].transpose(1, 2);
        var v = qkv[.., .., 2].transpose(1, 2);
        long past = cache?.Length ?? 0;
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k.to(cache.DType), v.to(cache.DType));
            k = k.to(q.dtype);
            v = v.to(q.dtype);
        }
        double drop = training ? _dropout : 0.0;
        Tensor attn;
        if (past == 0)
            attn = F.scaled_dot_product_attention(q, k, v, p: drop, is_casual: l > 1);
        else if (l == 1)
            attn = F.scaled_dot_product_attention(q, k, v, p: drop);
        else
        {
            // query i sits at absolute position past + i and sees keys 0..past + i
            var qi = arange(past, past + l, device: u.device).unsqueeze(1);
            var kj = arange(past + l, device: u.device).unsqueeze(0);
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask: kj.le(qi), p: drop);
        }
        attn = attn.transpose(1, 2).reshape(b, l, d);
        return DitOps.Linear(attn, c_proj.weight!, c_proj.bias, p);
    }
}

/// <summary>GPT-2's MLP: <c>c_fc</c> [4D, D], GELU with the tanh approximation (HF <c>gelu_new</c>), <c>c_proj</c> [D, 4D].</summary>
public sealed class GptMlp : nn.Module
{
    private readonly Linear c_fc;
    private readonly Linear c_proj;

    /// <summary>Builds the layer for <paramref name="cfg"/>.</summary>
    public GptMlp(GptConfig cfg) : base("mlp")
    {
        c_fc = nn.Linear(cfg.HiddenSize, cfg.MlpHidden);
        c_proj = nn.Linear(cfg.MlpHidden, cfg.HiddenSize);
        RegisterComponents();
    }

    /// <summary>Output projection (its weight gets the scaled GPT-2 initialisation).</summary>
    public Linear OutProjection => c_proj;

    /// <summary>Stores the projections in <paramref name="dtype"/>.</summary>
    internal void CastLinearWeights(ScalarType dtype) { c_fc.to(dtype); c_proj.to(dtype); }

    /// <summary>u [B, L, D] → [B, L, D] in the compute dtype.</summary>
    public Tensor Forward(Tensor u, ModelPrecision p) =>
        DitOps.Linear(F.gelu(DitOps.Linear(u, c_fc.weight!, c_fc.bias, p), GELU.Approximate.tanh), c_proj.weight!, c_proj.bias, p);
}

/// <summary>One pre-LayerNorm GPT-2 block: x + attn(ln_1(x)), then + mlp(ln_2(x)). The residual stream is float32.</summary>
public sealed class GptBlock : nn.Module
{
    private readonly LayerNorm ln_1;
    private readonly GptAttention attn;
    private readonly LayerNorm ln_2;
    private readonly GptMlp mlp;
    private readonly double _dropout;

    /// <summary>Builds the block for <paramref name="cfg"/>.</summary>
    public GptBlock(GptConfig cfg) : base("block")
    {
        ln_1 = nn.LayerNorm(cfg.HiddenSize, cfg.LayerNormEpsilon);
        attn = new GptAttention(cfg);
        ln_2 = nn.LayerNorm(cfg.HiddenSize, cfg.LayerNormEpsilon);
        mlp = new GptMlp(cfg);
        _dropout = cfg.Dropout;
        RegisterComponents();
    }

    /// <summary>The two output projections (c_proj of attention and MLP).</summary>
    public IEnumerable<Linear> OutProjections => new[] { attn.OutProjection, mlp.OutProjection };

    /// <summary>Stores the attention and MLP projections in <paramref name="dtype"/> (LayerNorms stay float32).</summary>
    internal void CastLinearWeights(ScalarType dtype) { attn.CastLinearWeights(dtype); mlp.CastLinearWeights(dtype); }

    /// <summary>x [B, L, D] float32 → [B, L, D] float32.</summary>
    public Tensor Forward(Tensor x, KvCache? cache, int layer, ModelPrecision p)
    {
        var a = attn.Forward(ln_1.forward(x), cache, layer, p);
        x = x + F.dropout(a, _dropout, training).to(ScalarType.Float32);
        var m = mlp.Forward(ln_2.forward(x), p);
        return x + F.dropout(m, _dropout, training).to(ScalarType.Float32);
    }
}
