using System.Text;
using System.Text.Json.Nodes;
using Sdtt.Diffusion;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>One multiple-choice item: a context, candidate continuations and the index of the right one.</summary>
public sealed record MultipleChoiceItem(string Context, string[] Choices, int Gold);

/// <summary>Multiple-choice options.</summary>
/// <param name="Draws">Monte-Carlo NELBO draws per choice for diffusion models (32).</param>
/// <param name="Seed">Seed of the draws.</param>
/// <param name="BatchSize">Sequences per judge call (AR).</param>
/// <param name="Limit">Evaluate only the first N items (≤ 0: all).</param>
/// <param name="ContextTokens">Context limit shared by AR and diffusion scoring, as <see cref="LambadaOptions.ContextTokens"/>.</param>
public sealed record MultipleChoiceOptions(int Draws = ContinuationNelbo.DefaultDraws, int Seed = 0, int BatchSize = 8, int Limit = 0, int ContextTokens = 0);

/// <summary>Multiple-choice result.</summary>
/// <param name="Kind">"diffusion" or "ar".</param>
/// <param name="Accuracy">Fraction of items whose highest-scoring choice is the gold one.</param>
/// <param name="AccuracyNorm">Same with scores divided by the choice's UTF-8 byte length (lm-eval acc_norm; lm-eval divides
/// by the character length, identical for ASCII text).</param>
/// <param name="Items">Number of items.</param>
/// <param name="Draws">Monte-Carlo draws per choice (0 for AR).</param>
/// <param name="Scores">Per item, per choice: log-likelihood (AR) or −NELBO (diffusion), nats.</param>
public sealed record MultipleChoiceResult(string Kind, double Accuracy, double AccuracyNorm, int Items, int Draws, double[][] Scores)
{
    /// <summary>Per item: whether the highest score is the gold choice.</summary>
    public bool[] Correct { get; init; } = Array.Empty<bool>();
    /// <summary>Per item: the same with length-normalised scores.</summary>
    public bool[] CorrectNorm { get; init; } = Array.Empty<bool>();
    /// <summary>Context limit used (tokens of [BOS] + context + choice + one slot), as in <see cref="LambadaResult.ContextTokens"/>.</summary>
    public int ContextTokens { get; init; }
    /// <summary>Choices whose context was cut to fit.</summary>
    public int Truncated { get; init; }
}

/// <summary>lm-eval-harness-style multiple choice (reference F.4). Each choice is scored as a continuation of the context:
/// AR models by the summed log-likelihood of its tokens given [BOS] + context; diffusion models by −NELBO of its tokens given
/// [BOS] + context (context tokens never masked; Monte-Carlo as <see cref="ContinuationNelbo"/>). As in lm-eval, trailing
/// spaces of the context move to the front of the continuation, and the continuation tokens are those of enc(context +
/// continuation) after enc(context). Unlike lm-eval with GPT-2, a BOS token is always prepended (our models are trained
/// with BOS at the start of each chunk; lm-eval uses EOS = BOS only for an empty context).</summary>
public static class MultipleChoice
{
    /// <summary>Reads JSONL with "context" (or "query"/"ctx"), "choices" (or "endings") and "gold" (or "label"/"answer"; an
    /// integer, or a digit string).</summary>
    public static List<MultipleChoiceItem> Load(string path, int limit = 0)
    {
        var list = new List<MultipleChoiceItem>();
        foreach (var (line, o) in JsonLines.Read(path))
        {
            string ctx = Str(o, path, line, "context", "query", "ctx");
            var arr = (o["choices"] ?? o["endings"]) as JsonArray ?? throw new SdttException($"{path}:{line}: no \"choices\" (or \"endings\") array");
            var choices = arr.Select(c => c?.GetValue<string>() ?? throw new SdttException($"{path}:{line}: a choice is null")).ToArray();
            if (choices.Length < 2) throw new SdttException($"{path}:{line}: fewer than 2 choices");
            var g = o["gold"] ?? o["label"] ?? o["answer"] ?? throw new SdttException($"{path}:{line}: no \"gold\" (or \"label\") field");
            int gold = g.GetValueKind() == System.Text.Json.JsonValueKind.String && int.TryParse(g.GetValue<string>(), out var gi) ? gi
                : g.GetValueKind() == System.Text.Json.JsonValueKind.Number ? g.GetValue<int>()
                : throw new SdttException($"{path}:{line}: \"gold\" must be an integer index");
            if (gold < 0 || gold >= choices.Length) throw new SdttException($"{path}:{line}: gold index {gold} is outside 0..{choices.Length - 1}");
            list.Add(new MultipleChoiceItem(ctx, choices, gold));
            if (limit > 0 && list.Count >= limit) break;
        }
        if (list.Count == 0) throw new SdttException($"{path}: no items");
        return list;
    }

    static string Str(JsonObject o, string path, int line, params string[] names)
    {
        foreach (var n in names) if (o[n] is JsonNode v) return v.GetValue<string>();
        throw new SdttException($"{path}:{line}: no \"{names[0]}\" field");
    }

    /// <summary>Context and continuation token ids the lm-eval way (trailing context spaces move to the continuation).</summary>
    public static (int[] Context, int[] Continuation) EncodePair(EvalTokenizer tok, string context, string continuation)
    {
        int spaces = context.Length - context.TrimEnd().Length;
        if (spaces > 0) { continuation = context[^spaces..] + continuation; context = context[..^spaces]; }
        var whole = tok.Encode(context + continuation);
        var ctx = tok.Encode(context);
        int split = ctx.Length <= whole.Length && whole.AsSpan(0, ctx.Length).SequenceEqual(ctx) ? ctx.Length : CommonPrefix(whole, ctx);
        return (whole[..split], whole[split..]);
    }

    static int CommonPrefix(int[] a, int[] b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        return i;
    }

    /// <summary>AR scoring: summed log-likelihood of each choice.</summary>
    public static MultipleChoiceResult EvaluateAr(IJudge judge, IReadOnlyList<MultipleChoiceItem> items, MultipleChoiceOptions? options = null,
        EvalTokenizer? tokenizer = null, Action<int>? progress = null)
    {
        var o = options ?? new MultipleChoiceOptions();
        var tok = tokenizer ?? EvalTokenizer.Gpt2;
        var its = Take(items, o.Limit);
        var seqs = new List<(int[] Seq, int From)>();
        int limit = ContextWindow.Limit(o.ContextTokens, judge.MaxLength), truncated = 0;
        foreach (var it in its)
            foreach (var c in it.Choices)
            {
                var (ctx, cont) = EncodePair(tok, it.Context, c);
                if (cont.Length == 0) throw new SdttException("multiple choice: a choice encodes to no token");
                var (seq, from, cut) = Lambada.ArSequence(tok.Bos, ctx, cont, limit);
                if (cut) truncated++;
                seqs.Add((seq, from));
            }
        var (nll, _) = Lambada.ScoreSpansAr(judge, seqs, o.BatchSize, null, greedy: false);
        var scores = new double[its.Count][];
        int k = 0;
        for (int i = 0; i < its.Count; i++)
        {
            scores[i] = its[i].Choices.Select(_ => -nll[k++]).ToArray();
            progress?.Invoke(1);
        }
        return Summarise("ar", its, scores, 0) with { ContextTokens = limit, Truncated = truncated };
    }

    /// <summary>Diffusion scoring: −NELBO of each choice given [BOS] + context.</summary>
    public static MultipleChoiceResult EvaluateDiffusion(IDenoiser model, IReadOnlyList<MultipleChoiceItem> items, MultipleChoiceOptions? options = null,
        EvalTokenizer? tokenizer = null, Action<int>? progress = null)
    {
        var o = options ?? new MultipleChoiceOptions();
        var tok = tokenizer ?? EvalTokenizer.Gpt2;
        var its = Take(items, o.Limit);
        var gen = new Generator((ulong)o.Seed);
        var schedule = new LogLinearSchedule();
        var scores = new double[its.Count][];
        int truncated = 0;
        for (int i = 0; i < its.Count; i++)
        {
            scores[i] = new double[its[i].Choices.Length];
            for (int c = 0; c < its[i].Choices.Length; c++)
            {
                var (ctx, cont) = EncodePair(tok, its[i].Context, its[i].Choices[c]);
                if (cont.Length == 0) throw new SdttException("multiple choice: a choice encodes to no token");
                var (kept, cut) = ContextWindow.Fit(ctx, cont.Length, o.ContextTokens);
                if (cut) truncated++;
                var seq = new List<int> { tok.Bos };
                seq.AddRange(kept);
                int from = seq.Count;
                seq.AddRange(cont);
                scores[i][c] = -ContinuationNelbo.Estimate(model, seq, from, seq.Count, o.Draws, gen, schedule);
            }
            progress?.Invoke(1);
        }
        return Summarise("diffusion", its, scores, o.Draws) with { ContextTokens = Math.Max(0, o.ContextTokens), Truncated = truncated };
    }

    /// <summary>Accuracy and length-normalised accuracy from scores (ties go to the lowest index, as numpy argmax).</summary>
    public static MultipleChoiceResult Summarise(string kind, IReadOnlyList<MultipleChoiceItem> items, double[][] scores, int draws)
    {
        var ok = new bool[items.Count];
        var okNorm = new bool[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var s = scores[i];
            var norm = s.Select((v, c) => v / Math.Max(1, Encoding.UTF8.GetByteCount(items[i].Choices[c]))).ToArray();
            ok[i] = ArgMax(s) == items[i].Gold;
            okNorm[i] = ArgMax(norm) == items[i].Gold;
        }
        return new MultipleChoiceResult(kind, ok.Count(c => c) / (double)items.Count, okNorm.Count(c => c) / (double)items.Count, items.Count, draws, scores)
            { Correct = ok, CorrectNorm = okNorm };
    }

    static int ArgMax(double[] v)
    {
        int b = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[b]) b = i;
        return b;
    }

    static IReadOnlyList<MultipleChoiceItem> Take(IReadOnlyList<MultipleChoiceItem> items, int limit)
    {
        if (items.Count == 0) throw new SdttException("multiple choice: no items");
        return limit > 0 && limit < items.Count ? items.Take(limit).ToList() : items;
    }
}
