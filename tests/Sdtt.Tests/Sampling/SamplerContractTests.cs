using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>The contract every sampler passes, over {uncached, cached} × {f32, f64} × {free, prompt, infill}
/// on a tiny random DiT (V = 50, L = 16).</summary>
public class SamplerContractTests
{
    private const int V = 50, L = 16, B = 3, Mask = V - 1;

    public static IEnumerable<object[]> Cases()
    {
        foreach (var cached in new[] { false, true })
            foreach (var p in new[] { CategoricalPrecision.Float32, CategoricalPrecision.Float64 })
                foreach (var c in new[] { "free", "prompt", "infill", "fill" })
                    yield return new object[] { cached, p, c };
    }

    private static SamplingOptions Options(bool cached, CategoricalPrecision p, string kind, long seed)
    {
        var o = new SamplingOptions { Steps = 24, NumSamples = B, SeqLen = L, Seed = seed, Cached = cached, Precision = p, ChunkRows = 5 };
        return kind switch
        {
            "prompt" => o with { Prompt = new long[] { 3, 1, 4, 1, 5 } },
            "infill" => o with
            {
                Constraint = TokenConstraint.PerSample(new[]
                {
                    new long[] { 7, -1, -1, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 9 },
                    new long[] { -1, -1, 2, 2, 2 },
                    new long[] { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0 },
                }),
                Prompt = new long[] { 7 },
            },
            // a late grid end (ε = 0.5) leaves masks after the last step, so the greedy fill runs
            "fill" => o with { Steps = 3, GridEps = 0.5, AddBos = true, AddEos = true, BosToken = 11 },
            _ => o,
        };
    }

    private static long?[,] FixedTokens(SamplingOptions o)
    {
        var result = new long?[B, L];
        bool[]? f = null;
        long[]? t = null;
        if (o.Constraint is not null)
        {
            var (ft, tt) = o.Constraint.ToTensors(B, L, CPU);
            using (ft) using (tt) { f = ft.data<bool>().ToArray(); t = tt.data<long>().ToArray(); }
        }
        for (int b = 0; b < B; b++)
            for (int i = 0; i < L; i++)
            {
                if (o.Prompt is { } p && i < p.Count) result[b, i] = p[i];
                else if (f is not null && f[b * L + i]) result[b, i] = t![b * L + i];
                else if (o.AddBos && i == 0) result[b, i] = o.BosToken;
                else if (o.AddEos && i == L - 1) result[b, i] = o.BosToken;
            }
        return result;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SamplerKeepsItsContract(bool cached, CategoricalPrecision precision, string kind)
    {
        using var scope = NewDisposeScope();
        using var model = SamplerTestModels.RandomDit(V, L);
        var states = new List<SamplingStep>();
        var arrays = new List<long[][]>();
        var o = Options(cached, precision, kind, seed: 11) with { OnStep = s => { states.Add(s with { Tokens = null! }); arrays.Add(s.ToArray()); } };
        var sampler = new AncestralSampler();
        var r = sampler.Sample(model, o);

        // shape and no mask left
        Assert.Equal(B, r.Tokens.Length);
        Assert.All(r.Tokens, row => Assert.Equal(L, row.Length));
        Assert.All(r.Tokens, row => Assert.DoesNotContain((long)Mask, row));
        Assert.All(r.Tokens, row => Assert.All(row, t => Assert.InRange(t, 0, V - 2)));
        Assert.Equal(o.Steps, r.Steps);

        // callbacks: prior, N steps, then the fill iff masks were left
        Assert.Equal(-1, states[0].Step);
        bool fill = arrays[o.Steps].Any(row => row.Contains(Mask));
        Assert.Equal(fill, r.FillApplied);
        Assert.Equal(o.Steps + 1 + (fill ? 1 : 0), states.Count);
        if (kind == "fill") Assert.True(fill, "ε = 0.5 should leave masks for the fill");
        Assert.Equal(r.Tokens, arrays[^1]);

        // fixed tokens hold from the prior on; an unmasked token never changes
        var fixedTokens = FixedTokens(o);
        for (int k = 0; k < arrays.Count; k++)
            for (int b = 0; b < B; b++)
                for (int i = 0; i < L; i++)
                {
                    if (fixedTokens[b, i] is long f) Assert.Equal(f, arrays[k][b][i]);
                    else if (k == 0) Assert.Equal(Mask, arrays[k][b][i]);
                    if (k > 0 && arrays[k - 1][b][i] != Mask) Assert.Equal(arrays[k - 1][b][i], arrays[k][b][i]);
                }

        // network calls: uncached = every step that starts with a mask (+ the fill); cached = only those where a token
        // changed since the last call (the first always calls)
        int expected = 0;
        int lastCall = -1;
        for (int k = 1; k < arrays.Count; k++)
        {
            bool masksAtStart = arrays[k - 1].Any(row => row.Contains(Mask));
            bool calls = masksAtStart && (!cached || lastCall < 0 || !Same(arrays[lastCall], arrays[k - 1]));
            Assert.Equal(calls, states[k].NetworkCalled);
            if (calls) { expected++; lastCall = k - 1; }
        }
        Assert.Equal(expected, r.NetworkCalls);
        Assert.Equal(arrays.Select(a => a.Sum(row => row.LongCount(t => t == Mask))), states.Select(s => s.MasksLeft));

        // deterministic under a seed, different under another
        var again = sampler.Sample(model, Options(cached, precision, kind, seed: 11));
        Assert.Equal(r.Tokens, again.Tokens);
        var other = sampler.Sample(model, Options(cached, precision, kind, seed: 12));
        Assert.NotEqual(r.Tokens, other.Tokens);

        // cached and uncached give the same tokens
        var twin = sampler.Sample(model, Options(!cached, precision, kind, seed: 11));
        Assert.Equal(r.Tokens, twin.Tokens);
        if (kind == "free") Assert.True((cached ? r : twin).NetworkCalls < (cached ? twin : r).NetworkCalls, "24 steps over 16 positions must have steps without change");
    }

    private static bool Same(long[][] a, long[][] b) => a.Zip(b).All(p => p.First.SequenceEqual(p.Second));

    [Fact]
    public void TimeConditionedModelIsCalledEveryStepEvenWhenCached()
    {
        using var scope = NewDisposeScope();
        using var model = SamplerTestModels.RandomDit(V, L, timeConditioned: true);
        int stepsWithMasks = 0;
        var o = new SamplingOptions { Steps = 24, NumSamples = 2, SeqLen = L, Seed = 3 };
        var cached = new CachedAncestralSampler().Sample(model, o with { OnStep = s => { if (s.NetworkCalled) stepsWithMasks++; } });
        var plain = new AncestralSampler().Sample(model, o);
        Assert.Equal(plain.Tokens, cached.Tokens);
        Assert.Equal(plain.NetworkCalls, cached.NetworkCalls);
        Assert.Equal(stepsWithMasks, cached.NetworkCalls);
        Assert.True(cached.NetworkCalls >= 20, "a time-conditioned model cannot reuse outputs");
    }

    [Fact]
    public void CancellationStopsSampling()
    {
        using var model = SamplerTestModels.RandomDit(V, L);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var o = new SamplingOptions { Steps = 10, NumSamples = 1, SeqLen = L, Cancellation = cts.Token, OnStep = s => { if (++seen == 3) cts.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() => new AncestralSampler().Sample(model, o));
        Assert.Equal(3, seen);
    }

    [Theory]
    [InlineData("steps")]
    [InlineData("samples")]
    [InlineData("prompt")]
    [InlineData("topp")]
    [InlineData("temperature")]
    [InlineData("token")]
    [InlineData("beyond")]
    public void BadOptionsGiveOneLineErrors(string what)
    {
        using var model = SamplerTestModels.RandomDit(V, L);
        var o = new SamplingOptions { Steps = 4, NumSamples = 1, SeqLen = L };
        o = what switch
        {
            "steps" => o with { Steps = 0 },
            "samples" => o with { NumSamples = 0 },
            "prompt" => o with { Prompt = Enumerable.Repeat(1L, L).ToArray() },
            "topp" => o with { TopP = 0 },
            "temperature" => o with { Temperature = 0 },
            "token" => o with { Prompt = new long[] { Mask } },
            _ => o with { Constraint = TokenConstraint.At(new[] { new KeyValuePair<int, long>(L, 1) }) },
        };
        var e = Assert.Throws<SdttException>(() => new AncestralSampler().Sample(model, o));
        Assert.DoesNotContain('\n', e.Message);
    }
}
