using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling.Autoregressive;
using static TorchSharp.torch;

namespace Sdtt.Tests.Autoregressive;

/// <summary>KV cache, sampling filters and generation of the GPT model (tiny random models, small vocabularies).</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)] // uses the global torch generator (model init, manual_seed): not in parallel with the trainer tests
public class ArGenerationTests
{
    private static GptModel TinyModel(int vocab = 101, long seed = 7, bool tied = true)
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(seed);
        var m = new GptModel(new GptConfig(32, 4, 2, NPositions: 48, VocabSize: vocab, TieWordEmbeddings: tied));
        // GPT-2 init (std 0.02) gives nearly uniform logits; widen the weights so the test distributions are peaked
        using (no_grad())
            foreach (var p in m.parameters()) if (p.dim() == 2) p.mul_(15);
        m.eval();
        return m;
    }

    [Fact]
    public void CachedLogitsEqualFullRecomputationAtEveryPosition()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        var gen = new Generator(3, CPU);
        var tokens = randint(0, 101, new long[] { 3, 14 }, generator: gen);
        using var _ = no_grad();
        var full = model.Forward(tokens); // [3, 14, V], no cache
        using var cache = KvCache.For(model, 3, 14);
        // prefill 5 tokens, then a 3-token chunk (masked attention over the cache), then single-token decodes
        var parts = new List<Tensor> { model.Forward(tokens[.., ..5], cache), model.Forward(tokens[.., 5..8], cache) };
        Assert.Equal(8, cache.Length);
        for (int i = 8; i < 14; i++) parts.Add(model.Forward(tokens[.., i..(i + 1)], cache));
        Assert.Equal(14, cache.Length);
        var cached = cat(parts, 1);
        // tolerance: 1e-5 absolute in float32 (the logits are O(1-10))
        double diff = Golden.MaxAbsDiff(cached, full);
        Assert.True(diff < 1e-5, $"max |Δ| = {diff}");
        // the last-position shortcut returns the same row
        cache.Reset();
        var last = model.Forward(tokens[.., ..9], cache, lastOnly: true);
        Assert.True(Golden.MaxAbsDiff(last.squeeze(1), full[.., 8]) < 1e-5);
        // a full cache refuses more tokens
        Assert.Throws<SdttException>(() => model.Forward(tokens[.., ..6], cache));
    }

    [Fact]
    public void BFloat16CacheStaysCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        var tokens = randint(0, 101, new long[] { 2, 10 }, generator: new Generator(4, CPU));
        using var _ = no_grad();
        var f32 = model.Forward(tokens).softmax(-1);
        model.Precision = ModelPrecision.BFloat16;
        using var cache = KvCache.For(model, 2, 10);
        Assert.Equal(ScalarType.BFloat16, cache.DType);
        var bf = cat(new[] { model.Forward(tokens[.., ..6], cache), model.Forward(tokens[.., 6..7], cache), model.Forward(tokens[.., 7..], cache) }, 1).softmax(-1);
        double diff = Golden.MaxAbsDiff(bf, f32);
        Assert.True(diff < 0.05, $"max |Δp| = {diff}");
        Assert.True(diff > 0, "bf16 mode must actually change the arithmetic");
    }

    [Fact]
    public void GenerationIsReproducibleUnderASeedAndCacheDoesNotChangeIt()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        var prompt = tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }).view(4, 2);
        var o = new ArGenerationOptions { MaxNewTokens = 20, Seed = 11, TopK = 50, TopP = 0.95, Temperature = 0.9 };
        var a = ArGenerator.Generate(model, prompt, o);
        var b = ArGenerator.Generate(model, prompt, o);
        var noCache = ArGenerator.Generate(model, prompt, o with { UseCache = false });
        var other = ArGenerator.Generate(model, prompt, o with { Seed = 12 });
        Assert.Equal(new long[] { 4, 22 }, a.shape);
        Assert.True(a[.., ..2].EqualTo(prompt));
        Assert.True(a.EqualTo(b));
        Assert.True(a.EqualTo(noCache));
        Assert.False(a.EqualTo(other));
    }

    [Fact]
    public void TopKOneIsGreedyAndGreedyFollowsTheArgmax()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel();
        var prompt = tensor(new long[] { 10, 20, 30 }).view(3, 1);
        var greedy = ArGenerator.Generate(model, prompt, new ArGenerationOptions { MaxNewTokens = 12, Greedy = true });
        var top1 = ArGenerator.Generate(model, prompt, new ArGenerationOptions { MaxNewTokens = 12, TopK = 1, Seed = 5 });
        Assert.True(greedy.EqualTo(top1));
        // independent check: each greedy token is the argmax of the uncached logits of its prefix
        using var _ = no_grad();
        var logits = model.Forward(greedy[.., ..^1]);
        Assert.True(logits[.., 0..].argmax(-1).EqualTo(greedy[.., 1..]));
    }

    [Fact]
    public void StopsEachRowAtEosAndPadsWithEos()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModel(vocab: 5, seed: 2);
        const int eos = 3;
        var prompt = tensor(new long[] { 0, 1, 2, 4, 0, 1 }).view(6, 1);
        int calls = 0;
        var o = new ArGenerationOptions { MaxNewTokens = 40, StopAtEos = true, EosId = eos, Seed = 9, Temperature = 3.0 };
        var outp = ArGenerator.Generate(model, prompt, o, (step, next) => { Assert.Equal(calls, step); Assert.Equal(6, next.shape[0]); calls++; });
        var rows = outp[.., 1..];
        var firstEos = new List<int>();
        for (int r = 0; r < 6; r++)
        {
            var row = rows[r].data<long>().ToArray();
            int first = Array.IndexOf(row, (long)eos);
            Assert.True(first >= 0, $"row {r} never reached EOS");
            Assert.All(row[first..], t => Assert.Equal(eos, t));
            firstEos.Add(first);
        }
        Assert.Equal(firstEos.Max() + 1, calls); // generation ended once every row had finished
        Assert.True(firstEos.Distinct().Count() > 1, "rows should finish at different steps");
        // without the stop option, EOS is just a token and generation runs to the end
        int callsNoStop = 0;
        ArGenerator.Generate(model, prompt, o with { StopAtEos = false }, (_, _) => callsNoStop++);
        Assert.Equal(40, callsNoStop);
    }

    [Fact]
    public void TopKAndTopPKeepTheExpectedTokens()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        // probabilities 0.15, 0.5, 0.05, 0.3 (unsorted so that the scatter back to vocabulary order is exercised)
        var logits = tensor(new[] { 0.15f, 0.5f, 0.05f, 0.3f }).log().view(1, 4);
        bool[] Kept(Tensor t) => t.isfinite().data<bool>().ToArray();
        Assert.Equal(new[] { false, true, false, true }, Kept(LogitsFilter.TopP(logits, 0.7))); // 0.5, then 0.8 crosses 0.7 → kept, stop
        Assert.Equal(new[] { false, true, false, false }, Kept(LogitsFilter.TopP(logits, 0.4))); // the first is always kept
        Assert.Equal(new[] { true, true, false, true }, Kept(LogitsFilter.TopP(logits, 0.9)));  // 0.5, 0.8, 0.95 crosses → kept
        Assert.Equal(new[] { true, true, true, true }, Kept(LogitsFilter.TopP(logits, 1.0)));
        Assert.Equal(new[] { false, true, false, true }, Kept(LogitsFilter.TopK(logits, 2)));
        Assert.Equal(new[] { true, true, true, true }, Kept(LogitsFilter.TopK(logits, 0)));
        // sampling after top-k = 2 with a fixed generator only ever yields the two kept ids, in a 0.5 : 0.3 ratio
        var many = logits.expand(4000, 4);
        var draws = ArGenerator.Choose(many, new ArGenerationOptions { TopK = 2 }, new Generator(1, CPU));
        var counts = bincount(draws, minlength: 4).data<long>().ToArray();
        Assert.Equal(0, counts[0] + counts[2]);
        Assert.InRange(counts[1] / 4000.0, 0.625 - 0.04, 0.625 + 0.04);
    }

    [Fact]
    public void BadOptionsAreClearErrors()
    {
        using var model = TinyModel();
        var prompt = zeros(new long[] { 1, 1 }, ScalarType.Int64);
        Assert.Throws<SdttException>(() => ArGenerator.Generate(model, prompt, new ArGenerationOptions { MaxNewTokens = 48 }));
        Assert.Throws<SdttException>(() => ArGenerator.Generate(model, prompt, new ArGenerationOptions { TopP = 0 }));
        Assert.Throws<SdttException>(() => ArGenerator.Generate(model, prompt, new ArGenerationOptions { Temperature = 0 }));
    }
}
