using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>The sampler contract for reveal-first, with its own network-call rule: a step calls the network iff at least
/// one position of the batch is revealed in it (plus the fill when masks are left), and the output layer runs only at
/// the revealed rows.</summary>
public class RevealFirstContractTests
{
    private const int V = 50, L = 16, B = 3, Mask = V - 1;

    [Theory]
    [InlineData("free")]
    [InlineData("prompt")]
    [InlineData("infill")]
    [InlineData("fill")]
    public void RevealFirstKeepsItsContract(string kind)
    {
        using var model = SamplerTestModels.RandomDit(V, L);
        var arrays = new List<long[][]>();
        var called = new List<bool>();
        var o = Options(kind, 11) with { OnStep = s => { arrays.Add(s.ToArray()); called.Add(s.NetworkCalled); } };
        var sampler = SamplerRegistry.Get(SamplerRegistry.Default);
        Assert.IsType<RevealFirstSampler>(sampler);
        var r = sampler.Sample(model, o);

        Assert.Equal(B, r.Tokens.Length);
        Assert.All(r.Tokens, row => Assert.Equal(L, row.Length));
        Assert.All(r.Tokens, row => Assert.All(row, t => Assert.InRange(t, 0, V - 2)));
        bool fill = arrays[o.Steps].Any(row => row.Contains(Mask));
        Assert.Equal(fill, r.FillApplied);
        if (kind == "fill") Assert.True(fill, "ε = 0.5 should leave masks for the fill");
        Assert.Equal(r.Tokens, arrays[^1]);

        int calls = 0;
        long revealedRows = 0;
        for (int k = 1; k < arrays.Count; k++)
        {
            long revealed = 0;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < L; i++)
                {
                    if (arrays[k - 1][b][i] != Mask) Assert.Equal(arrays[k - 1][b][i], arrays[k][b][i]);   // carry-over
                    else if (arrays[k][b][i] != Mask) revealed++;
                }
            Assert.Equal(revealed > 0, called[k]);
            if (called[k]) calls++;
            revealedRows += revealed;
        }
        Assert.Equal(calls, r.NetworkCalls);
        Assert.Equal(revealedRows, r.RowsProjected);
        if (kind == "free") Assert.True(r.NetworkCalls < o.Steps, "64 steps over 16 positions must have steps that reveal nothing");

        Assert.Equal(r.Tokens, sampler.Sample(model, Options(kind, 11)).Tokens);
        Assert.NotEqual(r.Tokens, sampler.Sample(model, Options(kind, 12)).Tokens);
    }

    private static SamplingOptions Options(string kind, long seed)
    {
        var o = new SamplingOptions { Steps = 64, NumSamples = B, SeqLen = L, Seed = seed, ChunkRows = 5 };
        return kind switch
        {
            "prompt" => o with { Prompt = new long[] { 3, 1, 4, 1, 5 } },
            "infill" => o with { Constraint = TokenConstraint.PerSample(new[] { new long[] { 7, -1, -1, 8 }, new long[] { -1, -1, 2, 2, 2 }, new long[] { -1, 0 } }) },
            "fill" => o with { Steps = 3, GridEps = 0.5, AddBos = true, AddEos = true, BosToken = 11 },
            _ => o,
        };
    }

    [Fact]
    public void ASampleIsTheSameAloneAndInsideABatch()
    {
        using var model = SamplerTestModels.RandomDit(V, L);
        var sampler = new RevealFirstSampler();
        var settings = new[]
        {
            new SampleSettings { Seed = 5, Temperature = 0.8 },
            new SampleSettings { Seed = 9, TopP = 0.9, Prompt = new long[] { 1, 2 } },
            new SampleSettings { Seed = 7 },
        };
        var batch = sampler.Sample(model, new SamplingOptions { Steps = 16, NumSamples = 3, SeqLen = L, PerSample = settings });
        for (int i = 0; i < settings.Length; i++)
        {
            var alone = sampler.Sample(model, new SamplingOptions
            {
                Steps = 16, NumSamples = 1, SeqLen = L, Seed = settings[i].Seed, Temperature = settings[i].Temperature,
                TopP = settings[i].TopP, Prompt = settings[i].Prompt,
            });
            Assert.Equal(alone.Tokens[0], batch.Tokens[i]);
        }
        // Sample 0 of a seeded batch is the lone sample with that seed; sample 1 is another stream.
        var shared = sampler.Sample(model, new SamplingOptions { Steps = 16, NumSamples = 2, SeqLen = L, Seed = 7 });
        Assert.Equal(batch.Tokens[2], shared.Tokens[0]);
        Assert.NotEqual(shared.Tokens[0], shared.Tokens[1]);
    }

    [Fact]
    public void CancellingOneSampleKeepsItsBatchMates()
    {
        using var model = SamplerTestModels.RandomDit(V, L);
        using var cts = new CancellationTokenSource();
        var settings = new[] { new SampleSettings { Seed = 1 }, new SampleSettings { Seed = 2, Cancellation = cts.Token } };
        int step = 0;
        var r = new RevealFirstSampler().Sample(model, new SamplingOptions
        {
            Steps = 16, NumSamples = 2, SeqLen = L, PerSample = settings, OnStep = _ => { if (++step == 3) cts.Cancel(); },
        });
        Assert.Equal(new[] { false, true }, r.Cancelled);
        Assert.DoesNotContain((long)Mask, r.Tokens[0]);
        Assert.Contains((long)Mask, r.Tokens[1]);
        var alone = new RevealFirstSampler().Sample(model, new SamplingOptions { Steps = 16, NumSamples = 1, SeqLen = L, Seed = 1 });
        Assert.Equal(alone.Tokens[0], r.Tokens[0]);
    }

    [Fact]
    public void ReferenceOnlyOptionsAreRefused()
    {
        using var model = SamplerTestModels.RandomDit(V, L);
        var o = new SamplingOptions { Steps = 4, NumSamples = 1, SeqLen = L };
        foreach (var bad in new[] { o with { Cached = true }, o with { Precision = CategoricalPrecision.Float32 }, o with { Uniforms = new XoshiroUniformSource(1) } })
        {
            var e = Assert.Throws<SdttException>(() => new RevealFirstSampler().Sample(model, bad));
            Assert.DoesNotContain('\n', e.Message);
        }
        Assert.Throws<SdttException>(() => new AncestralSampler().Sample(model, o with { PerSample = new[] { new SampleSettings() } }));
        Assert.Contains("reveal-first", Assert.Throws<SdttException>(() => SamplerRegistry.Get("nope")).Message);
    }
}
