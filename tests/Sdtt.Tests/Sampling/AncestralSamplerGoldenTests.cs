using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>Full 8-step runs of the sampler against the reference (sdtt <c>MultiRoundSDTT.sample</c>) with the injected
/// uniforms of <c>sampler_cases</c>: x after every step and the final tokens must match exactly, in both draw precisions,
/// uncached and cached, with small and large row chunks.</summary>
public class AncestralSamplerGoldenTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var run in new[] { "uncond", "forced_fill", "prefix" })
            foreach (var mode in new[] { "f32", "f64" })
                foreach (var cached in new[] { false, true })
                    yield return new object[] { run, mode, cached, cached ? 7 : 128 };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FullRunsMatchReference(string run, string mode, bool cached, int chunkRows)
    {
        using var scope = NewDisposeScope();
        using var g = Golden.Open("sampler_cases.safetensors");
        using var model = Golden.TinyModel();
        var pool = g.Load("u.pool");
        var slots = Enumerable.Range(0, 8).Select(i => pool[i].clone()).ToList();
        if (run == "forced_fill")
        {
            // step 7 draws slot 7 with u[b, l, 999] = 1 − 2^-24 where force_mask = 1 (the reference's forced draw)
            var force = g.Load("run.forced_fill.force_mask").eq(1);
            var col = slots[7].select(-1, 999);
            col.masked_fill_(force, 0.99999994f);
        }
        TokenConstraint? constraint = null;
        if (run == "prefix")
        {
            var p = g.Load("run.prefix.prefix_tokens");
            constraint = TokenConstraint.PerSample(Enumerable.Range(0, 2).Select(b => p[b].data<long>().ToArray()).ToArray());
        }
        var source = new InjectedUniformSource(slots);
        var seen = new List<long[][]>();
        var options = new SamplingOptions
        {
            Steps = 8, NumSamples = 2, SeqLen = 32, Cached = cached, ChunkRows = chunkRows,
            Precision = mode == "f32" ? CategoricalPrecision.Float32 : CategoricalPrecision.Float64,
            Uniforms = source, Constraint = constraint,
            OnStep = s => { if (!s.IsFill) seen.Add(s.ToArray()); },
        };
        var result = new AncestralSampler().Sample(model, options);
        Assert.Equal(0, source.Remaining);
        var xSteps = g.Load($"run.{run}.{mode}.x_steps");
        Assert.Equal(9, seen.Count);
        for (int i = 0; i < 9; i++)
            Assert.True(Tokens(seen[i]).EqualTo(xSteps[i]), $"{run} {mode} x after step {i - 1}");
        Assert.True(result.ToTensor().EqualTo(g.Load($"run.{run}.{mode}.x_final")), $"{run} {mode} final");
        Assert.Equal(run == "forced_fill", result.FillApplied);
        int expectedCalls = cached ? CachedCalls(xSteps) : 8;
        Assert.Equal(expectedCalls + (run == "forced_fill" && !(cached && Same(xSteps[7], xSteps[8])) ? 1 : 0), result.NetworkCalls);
    }

    internal static Tensor Tokens(long[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, rows[0].Length });

    private static bool Same(Tensor a, Tensor b) => a.EqualTo(b);

    /// <summary>Cached calls: step i calls iff it is the first step or x changed in step i − 1.</summary>
    private static int CachedCalls(Tensor xSteps)
    {
        int calls = 1;
        for (int i = 1; i < 8; i++) if (!Same(xSteps[i - 1], xSteps[i])) calls++;
        return calls;
    }

    [Fact]
    public void TimeGridMatchesReference()
    {
        using var scope = NewDisposeScope();
        using var g = Golden.Open("sampler_cases.safetensors");
        Assert.True(AncestralSampler.TimeGrid(8).EqualTo(g.Load("run.ts")));
        Assert.Equal(g.Load("run.dt").item<double>(), AncestralSampler.StepSize(8));
    }

    [Fact]
    public void GreedyFillMatchesReference()
    {
        using var scope = NewDisposeScope();
        using var g = Golden.Open("sampler_cases.safetensors");
        using var model = Golden.TinyModel();
        using var _ = no_grad();
        var x = g.Load("single.s4_greedy_fill.x");
        var rows = x.reshape(-1).eq(999).nonzero().squeeze(-1);
        var z = AncestralStep.GreedyRows(model.LogProbsAt(x, rows), 999);
        var flat = x.reshape(-1).clone();
        flat.index_copy_(0, rows, z);
        foreach (var mode in new[] { "f32", "f64" })
            Assert.True(flat.reshape(2, 32).EqualTo(g.Load($"single.s4_greedy_fill.{mode}.x_new")), mode);
    }
}
