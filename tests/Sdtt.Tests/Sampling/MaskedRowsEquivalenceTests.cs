using Sdtt.Diffusion;
using Sdtt.Models;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>Point 6 of the issue: computing the output layer only at masked rows, in chunks, changes no sample.
/// The sampler is compared with a straightforward implementation that computes the full SUBS log-probs [B, L, V]
/// every step and applies <see cref="AncestralStep.Update"/>, fed the same uniforms.</summary>
public class MaskedRowsEquivalenceTests
{
    private static long[][] Naive(IDenoiser model, int b, int l, int steps, IUniformSource u, CategoricalPrecision precision,
        double temperature, double topP, long[]? prompt)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int v = model.VocabSize, mask = model.MaskIndex;
        var schedule = new LogLinearSchedule();
        var ts = AncestralSampler.TimeGrid(steps);
        double dt = AncestralSampler.StepSize(steps);
        Tensor Project(Tensor x)
        {
            if (prompt is null) return x;
            var y = x.clone();
            y[.., ..prompt.Length] = tensor(prompt).unsqueeze(0).expand(b, prompt.Length);
            return y;
        }
        var x = Project(full(b, l, (long)mask, dtype: ScalarType.Int64));
        for (int i = 0; i < steps; i++)
        {
            var logp = model.LogProbs(x);
            logp = ProbabilityShaping.Apply(logp.reshape(-1, v), temperature, topP, mask).reshape(b, l, v);
            x = Project(AncestralStep.Update(x, logp, ts[i].expand(b), dt, u, schedule, mask, precision));
        }
        var rows = x.reshape(-1).eq(mask).nonzero().squeeze(-1);
        if (rows.shape[0] > 0)
        {
            var logp = model.LogProbs(x).reshape(-1, v).index_select(0, rows);
            var flat = x.reshape(-1).clone();
            flat.index_copy_(0, rows, AncestralStep.GreedyRows(logp, mask));
            x = Project(flat.reshape(b, l));
        }
        var data = x.data<long>().ToArray();
        return Enumerable.Range(0, b).Select(i => data.AsSpan(i * l, l).ToArray()).ToArray();
    }

    private static List<Tensor> Pool(int steps, int b, int l, int v, ulong seed)
    {
        using var g = new Generator(seed);
        return Enumerable.Range(0, steps).Select(_ => rand(new long[] { b, l, v }, generator: g)).ToList();
    }

    [Theory]
    [InlineData(false, CategoricalPrecision.Float64, 1.0, 1.0, false)]
    [InlineData(true, CategoricalPrecision.Float32, 1.0, 1.0, true)]
    [InlineData(false, CategoricalPrecision.Float64, 0.7, 0.9, true)]
    [InlineData(true, CategoricalPrecision.Float64, 1.3, 0.5, false)]
    public void ChunkedMaskedRowSamplingEqualsFullLogProbs(bool cached, CategoricalPrecision precision, double temperature, double topP, bool withPrompt)
    {
        using var scope = NewDisposeScope();
        const int b = 2, l = 24, v = 300, steps = 12;
        using var model = SamplerTestModels.RandomDit(v, l, seed: 5, hidden: 64, blocks: 2);
        long[]? prompt = withPrompt ? new long[] { 17, 4, 250 } : null;
        var pool = Pool(steps, b, l, v, 99);
        var expected = Naive(model, b, l, steps, new InjectedUniformSource(pool), precision, temperature, topP, prompt);
        var options = new SamplingOptions
        {
            Steps = steps, NumSamples = b, SeqLen = l, Cached = cached, Precision = precision, Temperature = temperature,
            TopP = topP, Prompt = prompt, ChunkRows = 7, Uniforms = new InjectedUniformSource(pool),
        };
        var result = new AncestralSampler().Sample(model, options);
        Assert.Equal(expected, result.Tokens);
        // and a different pool gives different samples (the comparison is not vacuous)
        var other = new AncestralSampler().Sample(model, options with { Uniforms = new InjectedUniformSource(Pool(steps, b, l, v, 100)) });
        Assert.NotEqual(expected, other.Tokens);
    }
}
