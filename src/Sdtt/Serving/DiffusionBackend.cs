using Sdtt.Data;
using Sdtt.Models;
using Sdtt.Sampling;

namespace Sdtt.Serving;

/// <summary>Diffusion requests: one block per batch with the default sampler and per-sample settings. A block is the
/// request's context (its prompt, or for later blocks the tail of its text so far: the MDLM paper's semi-autoregressive
/// scheme) followed by the masked positions to generate. After every sampler step the final prefix of each request's
/// block (every position up to it revealed) is streamed.</summary>
internal sealed class DiffusionBackend : IBatchBackend
{
    private readonly Dit _model;
    private readonly CompletionEngineOptions _options;
    private readonly ISampler _sampler = SamplerRegistry.Get(SamplerRegistry.Default);

    public DiffusionBackend(Dit model, CompletionEngineOptions options)
    {
        _model = model;
        _options = options;
    }

    public ServedModelKind Kind => ServedModelKind.Diffusion;
    public int ContextLength => _model.Config.ModelLength;
    private int BlockContext => _options.BlockContext > 0 ? Math.Min(_options.BlockContext, ContextLength - 1) : Math.Max(1, ContextLength / 2);

    public void CheckLengths(int contextTokens, int maxTokens)
    {
        if (contextTokens >= ContextLength)
            throw new CompletionRequestException($"the prompt is {contextTokens - 1} tokens; this model's context of {ContextLength} allows at most {ContextLength - 2}", "prompt");
    }

    /// <summary>Block length: context + tokens still wanted, rounded up to the length bucket, at most the model length.</summary>
    public (int SeqLen, int Steps) KeyOf(PendingCompletion p)
    {
        int need = p.Context.Length + p.Remaining;
        int b = _options.LengthBucket;
        int len = (int)Math.Min(ContextLength, (need + (long)b - 1) / b * b);
        return (len, p.Steps);
    }

    /// <summary>Each block has its own stream, derived from the request's seed, so a request's text does not depend on
    /// which requests shared its blocks.</summary>
    internal static long BlockSeed(long seed, int block) => block == 0 ? seed : unchecked(seed + block * 0x632BE59BD9B4E019L);

    public int Run(IReadOnlyList<PendingCompletion> batch)
    {
        var (len, steps) = batch[0].Key;
        int mask = _model.MaskIndex;
        var start = batch.Select(p => p.Context.Length).ToArray();
        var take = batch.Select((p, i) => Math.Min(p.Remaining, len - start[i])).ToArray();
        var accepted = new int[batch.Count];   // generated positions of this block already streamed
        var settings = batch.Select(p => new SampleSettings
        {
            Seed = BlockSeed(p.Seed, p.Block),
            Temperature = p.Request.Temperature,
            TopP = p.Request.TopP,
            Prompt = p.Context,
            Cancellation = p.RowToken,
        }).ToArray();

        void Advance(long[][] rows)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                var p = batch[i];
                var row = rows[i];
                while (!p.Finished && accepted[i] < take[i] && row[start[i] + accepted[i]] != mask)
                {
                    p.Accept(row[start[i] + accepted[i]]);
                    accepted[i]++;
                }
            }
        }

        var options = new SamplingOptions
        {
            Steps = steps,
            NumSamples = batch.Count,
            SeqLen = len,
            PerSample = settings,
            OnStep = step =>
            {
                var rows = step.ToArray();
                Advance(rows);
                for (int i = 0; i < batch.Count; i++)
                    if (batch[i].Request.OnPreview is { } preview && !batch[i].Finished)
                        preview(Preview(batch[i], rows[i], start[i], take[i], step, mask));
            },
        };
        var result = _sampler.Sample(_model, options);
        Advance(result.Tokens);
        for (int i = 0; i < batch.Count; i++)
        {
            var p = batch[i];
            if (p.Finished) continue;
            // not finished: the block was used up, so the next block starts from the tail of the text so far
            var all = p.Context.Concat(result.Tokens[i].Skip(start[i]).Take(take[i])).ToArray();
            p.Context = all[^Math.Min(all.Length, BlockContext)..];
            p.Block++;
        }
        return result.NetworkCalls;
    }

    private static CompletionPreview Preview(PendingCompletion p, long[] row, int start, int take, SamplingStep step, int mask)
    {
        var sb = new System.Text.StringBuilder();
        var run = new List<int>();
        int left = 0;
        for (int j = start; j < start + take; j++)
        {
            if (row[j] == mask)
            {
                left++;
                if (run.Count > 0) { sb.Append(Gpt2Tokenizer.Instance.Decode(run)); run.Clear(); }
                sb.Append(CompletionPreview.MaskText);
            }
            else run.Add((int)row[j]);
        }
        if (run.Count > 0) sb.Append(Gpt2Tokenizer.Instance.Decode(run));
        return new CompletionPreview(p.Block, step.Step, step.Steps, sb.ToString(), left);
    }
}
