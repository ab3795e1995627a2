using Sdtt.Diffusion;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>A LAMBADA example split at its last space: <see cref="Prefix"/> = text before it, <see cref="Word"/> = " " + last word.</summary>
public sealed record LambadaExample(string Prefix, string Word)
{
    /// <summary>The original text.</summary>
    public string Text => Prefix + Word;
}

/// <summary>LAMBADA options.</summary>
/// <param name="Draws">Monte-Carlo draws of the per-word NELBO for diffusion models (32).</param>
/// <param name="Seed">Seed of the Monte-Carlo draws.</param>
/// <param name="BatchSize">Examples per judge call (AR).</param>
/// <param name="Limit">Evaluate only the first N examples (≤ 0: all).</param>
/// <param name="ContextTokens">Most tokens of [BOS] + context + word + one slot (the diffusion side's EOS); the oldest
/// context tokens beyond it are dropped, identically for AR and diffusion models (≤ 0: no limit besides an AR judge's
/// window). Give AR and diffusion models the same value — the longest both support — to compare them.</param>
public sealed record LambadaOptions(int Draws = ContinuationNelbo.DefaultDraws, int Seed = 0, int BatchSize = 8, int Limit = 0, int ContextTokens = 0);

/// <summary>LAMBADA result.</summary>
/// <param name="Kind">"diffusion" or "ar".</param>
/// <param name="Accuracy">Fraction of examples whose whole last word is predicted exactly.</param>
/// <param name="Perplexity">Per-word perplexity exp(mean over examples of the word NLL/NELBO).</param>
/// <param name="MeanWordNll">Mean over examples of the word's summed NLL (AR) or NELBO (diffusion), nats.</param>
/// <param name="Examples">Number of examples.</param>
/// <param name="Draws">Monte-Carlo draws per example (0 for AR).</param>
/// <param name="WordNll">Per-example word NLL/NELBO (nats).</param>
/// <param name="Correct">Per-example correctness.</param>
public sealed record LambadaResult(string Kind, double Accuracy, double Perplexity, double MeanWordNll, int Examples, int Draws, double[] WordNll, bool[] Correct)
{
    /// <summary>The context limit applied (0: none).</summary>
    public int ContextTokens { get; init; }
    /// <summary>Examples whose context lost tokens to the limit.</summary>
    public int Truncated { get; init; }
}

/// <summary>The LAMBADA last-word protocol of SDTT (reference F.3), for diffusion models and AR models.</summary>
public static class Lambada
{
    /// <summary>Splits a text at its LAST space.</summary>
    public static LambadaExample Split(string text)
    {
        int i = text.LastIndexOf(' ');
        if (i < 0) throw new SdttException("LAMBADA: a text without a space cannot be split into context and last word");
        return new LambadaExample(text[..i], text[i..]);
    }

    /// <summary>Reads a LAMBADA JSONL file (one object per line with a "text" field, as EleutherAI/lambada_openai).</summary>
    public static List<LambadaExample> Load(string path, int limit = 0)
    {
        var list = new List<LambadaExample>();
        foreach (var (line, o) in JsonLines.Read(path))
        {
            if (o["text"]?.GetValue<string>() is not string text) throw new SdttException($"{path}:{line}: no \"text\" field");
            if (text.LastIndexOf(' ') <= 0) throw new SdttException($"{path}:{line}: the text has no space to split at");
            list.Add(Split(text));
            if (limit > 0 && list.Count >= limit) break;
        }
        if (list.Count == 0) throw new SdttException($"{path}: no examples");
        return list;
    }

    /// <summary>Diffusion model: prefix_ids = [BOS] + enc(prefix), suffix_ids = enc(word) + [EOS]. Accuracy from ONE
    /// forward pass with the word tokens masked (argmax over the real tokens, mask column excluded); perplexity from the
    /// Monte-Carlo NELBO of the word tokens given the prefix and the final EOS.</summary>
    public static LambadaResult EvaluateDiffusion(IDenoiser model, IReadOnlyList<LambadaExample> examples, LambadaOptions? options = null,
        EvalTokenizer? tokenizer = null, Action<int>? progress = null)
    {
        var o = options ?? new LambadaOptions();
        var tok = tokenizer ?? EvalTokenizer.Gpt2;
        var ex = Take(examples, o.Limit);
        var schedule = new LogLinearSchedule();
        var gen = new Generator((ulong)o.Seed);
        var nll = new double[ex.Count];
        var correct = new bool[ex.Count];
        int truncated = 0;
        for (int i = 0; i < ex.Count; i++)
        {
            var word = tok.Encode(ex[i].Word);
            if (word.Length == 0) throw new SdttException($"LAMBADA: example {i + 1} has an empty last word");
            var (context, cut) = ContextWindow.Fit(tok.Encode(ex[i].Prefix), word.Length, o.ContextTokens);
            if (cut) truncated++;
            var prefix = new List<int> { tok.Bos };
            prefix.AddRange(context);
            var seq = new List<int>(prefix);
            seq.AddRange(word);
            seq.Add(tok.Eos);
            int from = prefix.Count, to = prefix.Count + word.Length;
            correct[i] = SinglePassCorrect(model, seq, from, to);
            nll[i] = ContinuationNelbo.Estimate(model, seq, from, to, o.Draws, gen, schedule);
            progress?.Invoke(1);
        }
        return Summarise("diffusion", nll, correct, o.Draws) with { ContextTokens = Math.Max(0, o.ContextTokens), Truncated = truncated };
    }

    /// <summary>Whether one forward pass with tokens[from..to) masked predicts all of them (argmax over non-mask tokens).</summary>
    public static bool SinglePassCorrect(IDenoiser model, IReadOnlyList<int> seq, int from, int to)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        int l = seq.Count;
        var ids = seq.Select(t => (long)t).ToArray();
        for (int j = from; j < to; j++) ids[j] = model.MaskIndex;
        var x = tensor(ids, new long[] { 1, l }).to(model.Device);
        var rows = arange(from, to, dtype: ScalarType.Int64, device: model.Device);
        var logp = model.LogProbsAt(x, rows).clone();
        logp[.., model.MaskIndex] = tensor(float.NegativeInfinity);
        var pred = logp.argmax(-1).cpu().data<long>().ToArray();
        for (int j = from; j < to; j++) if (pred[j - from] != seq[j]) return false;
        return true;
    }

    /// <summary>AR model (GPT-2 harness with --add_bos): teacher-forced on [BOS] + enc(prefix) + enc(word); correct iff the
    /// greedy prediction matches every word token; word NLL = summed −log p of the word tokens (the EOS is not scored). A
    /// context longer than <see cref="LambadaOptions.ContextTokens"/> (or the judge window) loses its oldest tokens exactly
    /// as on the diffusion side (BOS kept, one slot reserved for the diffusion side's EOS).</summary>
    public static LambadaResult EvaluateAr(IJudge judge, IReadOnlyList<LambadaExample> examples, LambadaOptions? options = null,
        EvalTokenizer? tokenizer = null, Action<int>? progress = null)
    {
        var o = options ?? new LambadaOptions();
        var tok = tokenizer ?? EvalTokenizer.Gpt2;
        var ex = Take(examples, o.Limit);
        var seqs = new List<(int[] Seq, int From)>();
        int limit = ContextWindow.Limit(o.ContextTokens, judge.MaxLength), truncated = 0;
        foreach (var e in ex)
        {
            var p = tok.Encode(e.Prefix);
            var w = tok.Encode(e.Word);
            var (seq, from, cut) = ArSequence(tok.Bos, p, w, limit);
            if (cut) truncated++;
            seqs.Add((seq, from));
        }
        var (nll, correct) = ScoreSpansAr(judge, seqs, o.BatchSize, progress);
        return Summarise("ar", nll, correct, 0) with { ContextTokens = limit, Truncated = truncated };
    }

    /// <summary>[BOS] + context + continuation with the context cut by <see cref="ContextWindow.Fit"/> to
    /// <paramref name="maxTokens"/>; returns the sequence, where the continuation starts and whether the context was cut.</summary>
    internal static (int[] Seq, int From, bool Truncated) ArSequence(int bos, int[] context, int[] continuation, int maxTokens)
    {
        var (kept, cut) = ContextWindow.Fit(context, continuation.Length, maxTokens);
        var seq = new List<int> { bos };
        seq.AddRange(kept);
        int from = seq.Count;
        seq.AddRange(continuation);
        return (seq.ToArray(), from, cut);
    }

    /// <summary>Teacher-forced scoring of the spans [From, end) of each sequence: summed log-likelihood (negated: NLL) and
    /// whether greedy decoding reproduces every span token. Batched with right padding (a causal judge ignores it).</summary>
    internal static (double[] Nll, bool[] Correct) ScoreSpansAr(IJudge judge, IReadOnlyList<(int[] Seq, int From)> seqs, int batchSize, Action<int>? progress, bool greedy = true)
    {
        var nll = new double[seqs.Count];
        var correct = new bool[seqs.Count];
        for (int start = 0; start < seqs.Count; start += Math.Max(1, batchSize))
        {
            int n = Math.Min(Math.Max(1, batchSize), seqs.Count - start);
            int len = 0;
            for (int i = 0; i < n; i++) len = Math.Max(len, seqs[start + i].Seq.Length);
            var ids = new long[n * len];
            for (int i = 0; i < n; i++) for (int l = 0; l < seqs[start + i].Seq.Length; l++) ids[i * len + l] = seqs[start + i].Seq[l];
            double[] lp; long[] greedyIds;
            using (var scope = NewDisposeScope())
            {
                var x = tensor(ids, new long[] { n, len }).to(judge.Device);
                lp = judge.TokenLogProbs(x).to(ScalarType.Float64).cpu().data<double>().ToArray();
                greedyIds = greedy ? judge.GreedyTokens(x).to(ScalarType.Int64).cpu().data<long>().ToArray() : Array.Empty<long>();
            }
            for (int i = 0; i < n; i++)
            {
                var (seq, from) = seqs[start + i];
                double s = 0; bool ok = true;
                for (int l = from; l < seq.Length; l++)
                {
                    s -= lp[i * (len - 1) + l - 1];
                    ok &= greedy && greedyIds[i * (len - 1) + l - 1] == seq[l];
                }
                nll[start + i] = s;
                correct[start + i] = ok;
            }
            progress?.Invoke(n);
        }
        return (nll, correct);
    }

    static IReadOnlyList<LambadaExample> Take(IReadOnlyList<LambadaExample> ex, int limit)
    {
        if (ex.Count == 0) throw new SdttException("LAMBADA: no examples");
        return limit > 0 && limit < ex.Count ? ex.Take(limit).ToList() : ex;
    }

    static LambadaResult Summarise(string kind, double[] nll, bool[] correct, int draws)
    {
        double mean = nll.Average();
        return new LambadaResult(kind, correct.Count(c => c) / (double)correct.Length, Math.Exp(mean), mean, nll.Length, draws, nll, correct);
    }
}
