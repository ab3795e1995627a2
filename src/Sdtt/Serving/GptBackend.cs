using Sdtt.Data;
using Sdtt.Models;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Serving;

/// <summary>GPT requests with equal prompt lengths decoded together: one prefill of the batch into a
/// <see cref="KvCache"/>, then one single-token step per new token for all rows at once. Each row draws from its own
/// xoshiro256** stream with its own temperature and top-p (<see cref="RowSampler"/>); a row that ends (EOS, stop
/// sequence, max tokens, caller gone) is dropped from the cache and from later steps.</summary>
internal sealed class GptBackend : IBatchBackend
{
    private readonly GptModel _model;

    public GptBackend(GptModel model) => _model = model;

    public ServedModelKind Kind => ServedModelKind.Autoregressive;
    public int ContextLength => _model.Config.NPositions;

    public void CheckLengths(int contextTokens, int maxTokens)
    {
        if (contextTokens >= ContextLength)
            throw new CompletionRequestException($"the prompt is {contextTokens - 1} tokens; this model's context of {ContextLength} allows at most {ContextLength - 2}", "prompt");
        if (contextTokens + maxTokens > ContextLength)
            throw new CompletionRequestException($"prompt ({contextTokens - 1} tokens + BOS) and max_tokens {maxTokens} exceed this model's context of {ContextLength} tokens", "max_tokens");
    }

    /// <summary>The KV cache has one cursor, so only prompts of equal length share a batch.</summary>
    public (int SeqLen, int Steps) KeyOf(PendingCompletion p) => (p.Context.Length, 0);

    public int Run(IReadOnlyList<PendingCompletion> batch)
    {
        int b = batch.Count, len = batch[0].Context.Length;
        int n = batch.Max(p => p.Remaining);
        var streams = batch.Select(p => new XoshiroUniformSource(p.Seed)).ToArray();
        var active = Enumerable.Range(0, b).ToList();   // batch indices of the cache's rows, in order
        int calls = 0;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var cache = KvCache.For(_model, b, len + n);
        var prompt = tensor(batch.SelectMany(p => p.Context).ToArray(), new long[] { b, len }, device: _model.Device);
        var logits = _model.Forward(prompt, cache, lastOnly: true).select(1, 0);
        calls++;
        var u = new double[1];
        for (int step = 0; step < n && active.Count > 0; step++)
        {
            using var stepScope = NewDisposeScope();
            var uniforms = active.Select(i => { streams[i].Fill(u); return u[0]; }).ToArray();
            var next = RowSampler.Sample(logits, active.Select(i => batch[i].Request.Temperature).ToList(),
                active.Select(i => batch[i].Request.TopP).ToList(), uniforms);
            var keep = new List<int>();   // positions in the current rows that go on
            for (int r = 0; r < active.Count; r++)
            {
                var p = batch[active[r]];
                bool goesOn = p.Accept(next[r]);
                if (goesOn && p.Request.OnPreview is { } preview)
                    preview(new CompletionPreview(0, step, n, Gpt2Tokenizer.Instance.Decode(p.Generated.Select(t => (int)t)), 0));
                if (goesOn && !p.RowToken.IsCancellationRequested) keep.Add(r);
            }
            if (keep.Count == 0) break;
            var nextTokens = tensor(keep.Select(r => next[r]).ToArray(), new long[] { keep.Count, 1 }, device: _model.Device);
            if (keep.Count < active.Count)
            {
                using var rows = tensor(keep.Select(r => (long)r).ToArray(), device: _model.Device);
                cache.SelectRows(rows);
                active = keep.Select(r => active[r]).ToList();
            }
            var nextLogits = _model.Forward(nextTokens, cache).select(1, 0).MoveToOuterDisposeScope();
            logits.Dispose();
            logits = nextLogits;
            calls++;
        }
        return calls;
    }
}
