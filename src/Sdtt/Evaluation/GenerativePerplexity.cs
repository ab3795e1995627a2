using Sdtt.Data;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>How samples are scored by the judge.</summary>
public enum GenPplProtocol
{
    /// <summary>SDTT (<c>run_eval.py uncond_eval</c>): token ids fed as they are (no BOS, no re-tokenisation, EOS not treated
    /// specially); per-sample mean NLL over the L−1 next-token predictions; PPL = exp(mean over samples).</summary>
    Sdtt,
    /// <summary>MDLM (<c>compute_generative_perplexity</c>): decode to text, re-tokenise with the judge tokenizer (GPT-2),
    /// truncate to the judge context; token-level NLL weighted by (token ≠ EOS) or (token is the first EOS);
    /// PPL = exp(token-weighted mean over all samples).</summary>
    Mdlm,
}

/// <summary>Generative perplexity of samples under an AR judge, in nats (natural log) before exponentiation.</summary>
/// <param name="Protocol">sdtt or mdlm.</param>
/// <param name="Perplexity">exp(<paramref name="MeanNll"/>).</param>
/// <param name="MeanNll">Mean NLL in nats per token (sample-weighted for SDTT, token-weighted for MDLM).</param>
/// <param name="Samples">Number of samples scored.</param>
/// <param name="Tokens">Number of scored (weighted) next-token predictions.</param>
/// <param name="SampleNll">Per-sample mean NLL (nats per token), in input order.</param>
public sealed record GenerativePerplexityResult(string Protocol, double Perplexity, double MeanNll, int Samples, long Tokens, double[] SampleNll)
{
    /// <summary>Per-sample scored (weighted) token counts, in input order.</summary>
    public double[] SampleTokens { get; init; } = Array.Empty<double>();

    /// <summary>95 % bootstrap interval of <see cref="Perplexity"/> over samples: of the per-sample mean for the SDTT
    /// protocol, of the token-weighted ratio for MDLM.</summary>
    public Interval Interval(BootstrapOptions? options = null) =>
        (Protocol == "mdlm"
            ? Bootstrap.Ratio(SampleNll.Select((v, i) => v * SampleTokens[i]).ToArray(), SampleTokens, options)
            : Bootstrap.Mean(SampleNll, options)).Map(Math.Exp);
}

/// <summary>Generative perplexity (reference F.1): how likely an AR judge finds generated samples. Always report it with
/// <see cref="SampleEntropy"/>: low perplexity can be bought with low diversity.</summary>
public static class GenerativePerplexity
{
    /// <summary>The literal end-of-text marker the GPT-2 tokenizer turns into id 50256.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>SDTT protocol on token ids (rows may differ in length; each needs ≥ 2 tokens and ≤ judge context).</summary>
    public static GenerativePerplexityResult Sdtt(IJudge judge, IReadOnlyList<int[]> samples, int batchSize = 8, Action<int>? progress = null)
    {
        Check(samples, judge);
        var perSample = new double[samples.Count];
        var weights = new double[samples.Count];
        long tokens = 0;
        foreach (var (start, nll, counts) in ScoreBatches(judge, samples, batchSize, weight: null, progress))
            for (int i = 0; i < nll.Length; i++) { perSample[start + i] = nll[i] / counts[i]; weights[start + i] = counts[i]; tokens += (long)counts[i]; }
        double mean = perSample.Average();
        return new GenerativePerplexityResult("sdtt", Math.Exp(mean), mean, samples.Count, tokens, perSample) { SampleTokens = weights };
    }

    /// <summary>MDLM protocol on texts (already decoded; "&lt;|endoftext|&gt;" markers become EOS again). Texts are
    /// encoded with the GPT-2 tokenizer and truncated to the judge context. Padding never counts (the reference pads a batch
    /// with EOS, which can make the first pad count; we score each sample on its own tokens only).</summary>
    public static GenerativePerplexityResult Mdlm(IJudge judge, IReadOnlyList<string> texts, int batchSize = 8, Action<int>? progress = null)
    {
        var ids = texts.Select(t => EncodeWithEndOfText(t).Take(judge.MaxLength).ToArray()).ToList();
        if (ids.Any(x => x.Length < 2)) throw new SdttException("generative perplexity (mdlm): a sample re-tokenises to fewer than 2 tokens");
        return MdlmTokens(judge, ids, batchSize, progress);
    }

    /// <summary>MDLM protocol on token ids produced by the diffusion model's GPT-2 tokenizer: decode, re-tokenise, score.</summary>
    public static GenerativePerplexityResult MdlmFromIds(IJudge judge, IReadOnlyList<int[]> samples, int batchSize = 8, Action<int>? progress = null) =>
        Mdlm(judge, samples.Select(s => Gpt2Tokenizer.Instance.Decode(s)).ToList(), batchSize, progress);

    /// <summary>MDLM weighting on already re-tokenised ids.</summary>
    public static GenerativePerplexityResult MdlmTokens(IJudge judge, IReadOnlyList<int[]> ids, int batchSize = 8, Action<int>? progress = null)
    {
        Check(ids, judge);
        var perSample = new double[ids.Count];
        var weights = new double[ids.Count];
        double total = 0;
        long tokens = 0;
        foreach (var (start, nll, counts) in ScoreBatches(judge, ids, batchSize, MdlmWeights, progress))
            for (int i = 0; i < nll.Length; i++)
            {
                total += nll[i];
                tokens += (long)counts[i];
                perSample[start + i] = counts[i] > 0 ? nll[i] / counts[i] : 0;
                weights[start + i] = counts[i];
            }
        if (tokens == 0) throw new SdttException("generative perplexity (mdlm): no token carries weight");
        double mean = total / tokens;
        return new GenerativePerplexityResult("mdlm", Math.Exp(mean), mean, ids.Count, tokens, perSample) { SampleTokens = weights };
    }

    /// <summary>MDLM weights of the targets x_1..x_{L−1}: 1 if x_l ≠ EOS or x_l is the first EOS of the sequence (counting
    /// position 0), else 0.</summary>
    public static float[] MdlmWeights(int[] seq)
    {
        var w = new float[seq.Length - 1];
        int eosSeen = seq[0] == Gpt2Tokenizer.Eos ? 1 : 0;
        for (int l = 1; l < seq.Length; l++)
        {
            bool isEos = seq[l] == Gpt2Tokenizer.Eos;
            if (isEos) eosSeen++;
            w[l - 1] = !isEos || eosSeen == 1 ? 1f : 0f;
        }
        return w;
    }

    /// <summary>GPT-2 encoding in which each literal "&lt;|endoftext|&gt;" becomes id 50256 (as HF tokenizers do).</summary>
    public static int[] EncodeWithEndOfText(string text)
    {
        var parts = text.Split(EndOfText);
        var ids = new List<int>();
        for (int i = 0; i < parts.Length; i++)
        {
            if (i > 0) ids.Add(Gpt2Tokenizer.Eos);
            if (parts[i].Length > 0) ids.AddRange(Gpt2Tokenizer.Instance.Encode(parts[i]));
        }
        return ids.ToArray();
    }

    static void Check(IReadOnlyList<int[]> samples, IJudge judge)
    {
        if (samples.Count == 0) throw new SdttException("generative perplexity: no samples");
        foreach (var s in samples)
        {
            if (s.Length < 2) throw new SdttException("generative perplexity: every sample needs at least 2 tokens");
            if (s.Length > judge.MaxLength) throw new SdttException($"generative perplexity: a sample has {s.Length} tokens, more than the judge context {judge.MaxLength}");
            foreach (var t in s)
                if (t < 0 || t >= judge.VocabSize) throw new SdttException($"generative perplexity: token id {t} is outside the judge vocabulary ({judge.VocabSize}); MASK tokens left in samples cannot be judged");
        }
    }

    /// <summary>Per batch: start index, weighted NLL sums (nats) and weight sums per row. Rows are right-padded with
    /// token 0 (a causal judge never looks right, so padding changes nothing); padded targets get weight 0.</summary>
    internal static IEnumerable<(int Start, double[] NllSum, double[] Count)> ScoreBatches(
        IJudge judge, IReadOnlyList<int[]> rows, int batchSize, Func<int[], float[]>? weight, Action<int>? progress)
    {
        if (batchSize < 1) throw new SdttException("batch size must be ≥ 1");
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, rows.Count - start);
            int len = 0;
            for (int i = 0; i < n; i++) len = Math.Max(len, rows[start + i].Length);
            var ids = new long[n * len];
            var w = new float[n * (len - 1)];
            for (int i = 0; i < n; i++)
            {
                var r = rows[start + i];
                for (int l = 0; l < r.Length; l++) ids[i * len + l] = r[l];
                var rw = weight?.Invoke(r);
                for (int l = 0; l < r.Length - 1; l++) w[i * (len - 1) + l] = rw?[l] ?? 1f;
            }
            double[] nll, cnt;
            using (var scope = NewDisposeScope())
            {
                var x = tensor(ids, new long[] { n, len }).to(judge.Device);
                var lp = judge.TokenLogProbs(x).to(ScalarType.Float64).cpu();
                var wt = tensor(w, new long[] { n, len - 1 }).to(ScalarType.Float64);
                nll = (-(lp * wt)).sum(1).data<double>().ToArray();
                cnt = wt.sum(1).data<double>().ToArray();
            }
            progress?.Invoke(n);
            yield return (start, nll, cnt);
        }
    }
}
