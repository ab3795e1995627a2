using Sdtt.Models;
using Sdtt.Native;
using Xunit;
using static TorchSharp.torch;

namespace Sdtt.Tests.Models;

/// <summary>Keeping the weights in bfloat16 must give exactly what casting them on every call gives (same rounding of the
/// same float32 weights), and actually store them in bfloat16.</summary>
[Collection(Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class Bf16WeightsTests
{
    [Fact]
    public void DitKeptWeightsMatchPerCallCasting()
    {
        TorchRuntime.EnsureLoaded();
        using var _ = no_grad();
        var cfg = DitConfig.Tiny with { VocabSize = 300, ModelLength = 16 };
        manual_seed(3);
        using var perCall = new Dit(cfg);
        foreach (var (name, p) in perCall.named_parameters()) nn.init.normal_(p, 0.0, 0.1); // non-zero adaLN and head
        using var kept = new Dit(cfg);
        kept.load_state_dict(perCall.state_dict());
        perCall.eval(); kept.eval();
        perCall.Precision = ModelPrecision.BFloat16;
        kept.KeepWeightsInBFloat16();
        Assert.Contains(kept.named_parameters(), p => p.name.EndsWith("attn_qkv.weight") && p.parameter.dtype == ScalarType.BFloat16);
        Assert.Contains(kept.named_parameters(), p => p.name == "output_layer.linear.weight" && p.parameter.dtype == ScalarType.BFloat16);
        Assert.All(kept.named_parameters().Where(p => p.name.Contains("adaLN") || p.name.Contains("norm")), p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
        var x = randint(0, 300, new long[] { 2, 16 });
        var sigma = tensor(new[] { 0.3f, 1.2f });
        var a = perCall.LogProbs(x, sigma);
        var b = kept.LogProbs(x, sigma);
        Assert.Equal(ScalarType.Float32, b.dtype);
        Assert.True(a.eq(b).all().item<bool>(), $"max diff {(a - b).abs().max().item<float>()}");
    }

    [Fact]
    public void GptKeptWeightsMatchPerCallCasting()
    {
        TorchRuntime.EnsureLoaded();
        using var _ = no_grad();
        var cfg = new GptConfig(64, 4, 2, 32, 300, TieWordEmbeddings: false, Dropout: 0);
        manual_seed(4);
        using var perCall = new GptModel(cfg);
        using var kept = new GptModel(cfg);
        kept.load_state_dict(perCall.state_dict());
        perCall.eval(); kept.eval();
        perCall.Precision = ModelPrecision.BFloat16;
        kept.KeepWeightsInBFloat16();
        Assert.Equal(ScalarType.BFloat16, kept.OutputWeight.dtype);
        var x = randint(0, 300, new long[] { 2, 12 });
        var a = perCall.Forward(x);
        var b = kept.Forward(x);
        Assert.True(a.eq(b).all().item<bool>(), $"max diff {(a - b).abs().max().item<float>()}");
        // and the KV-cached decode runs in bf16 end to end
        using var cache = KvCache.For(kept, 2, 13);
        Assert.Equal(ScalarType.BFloat16, cache.DType);
        var step = kept.Forward(x, cache, lastOnly: true);
        Assert.True(step.isfinite().all().item<bool>());
    }
}
