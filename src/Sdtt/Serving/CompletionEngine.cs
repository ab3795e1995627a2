using System.Runtime.CompilerServices;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;

namespace Sdtt.Serving;

/// <summary>Completions over one model folder, diffusion or GPT, with dynamic batching: requests wait in a bounded
/// queue; one worker thread takes the oldest and every waiting request with the same key (diffusion: block length and
/// step count, since the DiT has no padding mask; GPT: prompt length, since the KV cache has one cursor), up to
/// <see cref="CompletionEngineOptions.MaxBatch"/>, and samples them in one batch. Each request keeps its own seed,
/// temperature, top-p, stop sequences and cancellation inside the batch.
/// <code>
/// using var engine = CompletionEngine.Open("runs/pipeline/distill/rounds/round-3-steps-8/ema");
/// var r = await engine.CompleteAsync(new CompletionRequest { Prompt = "The President said", MaxTokens = 64, Seed = 1 });
/// await foreach (var d in engine.StreamAsync(new CompletionRequest { Prompt = "Hello" })) Console.Write(d.Text);
/// </code></summary>
public sealed class CompletionEngine : IDisposable
{
    private readonly IBatchBackend _backend;
    private readonly LinkedList<PendingCompletion> _queue = new();
    private readonly Thread _worker;
    private readonly IDisposable? _ownedModel;
    private int _waiting;   // requests submitted and not yet taken into a batch (continuations not counted)
    private bool _disposed;

    /// <summary>Serves an already loaded DiT (not disposed by the engine).</summary>
    public CompletionEngine(Dit model, CompletionEngineOptions? options = null, string modelId = "sdtt-diffusion")
        : this(new DiffusionBackend(model, (options ?? new()).Validate()), options ?? new(), modelId, null) { }

    /// <summary>Serves an already loaded GPT model (not disposed by the engine).</summary>
    public CompletionEngine(GptModel model, CompletionEngineOptions? options = null, string modelId = "sdtt-gpt")
        : this(new GptBackend(model), options ?? new(), modelId, null) { }

    private CompletionEngine(IBatchBackend backend, CompletionEngineOptions options, string modelId, IDisposable? owned)
    {
        Options = options.Validate();
        _backend = backend;
        ModelId = options.ModelId ?? modelId;
        _ownedModel = owned;
        _worker = new Thread(WorkLoop) { IsBackground = true, Name = "sdtt-completion-engine" };
        _worker.Start();
    }

    /// <summary>Loads a model folder written by <c>sdtt train</c> / <c>sdtt distill</c> (a DiT) or a GPT folder
    /// (<c>sdtt train --model-type ar</c>, HF GPT-2), in eval mode.</summary>
    public static CompletionEngine Open(string dir, CompletionEngineOptions? options = null)
    {
        options = (options ?? new()).Validate();
        if (!Directory.Exists(dir)) throw new SdttException($"model folder '{dir}' does not exist");
        TorchRuntime.EnsureLoaded();
        var device = TorchRuntime.ResolveDevice(options.Device);
        var id = options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        if (GptModelFolder.IsGptFolder(dir))
        {
            var gpt = GptModelFolder.Load(dir, device);
            gpt.eval();
            gpt.PrepareForDecoding();
            return new CompletionEngine(new GptBackend(gpt), options, id, gpt);
        }
        var dit = ModelFolder.LoadDit(dir, device);
        dit.eval();
        return new CompletionEngine(new DiffusionBackend(dit, options), options, id, dit);
    }

    /// <summary>The settings.</summary>
    public CompletionEngineOptions Options { get; }
    /// <summary>Model name reported to clients.</summary>
    public string ModelId { get; }
    /// <summary>Diffusion or autoregressive.</summary>
    public ServedModelKind Kind => _backend.Kind;
    /// <summary>The model's context (DiT model length or GPT n_positions).</summary>
    public int ContextLength => _backend.ContextLength;
    /// <summary>Requests waiting for a batch.</summary>
    public int QueueDepth => Volatile.Read(ref _waiting);

    /// <summary>Validates and queues a request; throws <see cref="CompletionRequestException"/> (bad settings) or
    /// <see cref="QueueFullException"/> at once. Read the returned handle's deltas or await its result.</summary>
    public CompletionHandle Submit(CompletionRequest request, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(request);
        var (steps, prompt) = Check(request);
        long seed = request.Seed ?? Random.Shared.NextInt64();
        var pending = new PendingCompletion(request, seed, steps, prompt, cancellation);
        pending.Key = _backend.KeyOf(pending);
        lock (_queue)
        {
            if (_waiting >= Options.MaxQueue)
            {
                pending.Abandon();
                throw new QueueFullException(Options.MaxQueue);
            }
            _queue.AddLast(pending);
            _waiting++;
            Monitor.PulseAll(_queue);
        }
        return new CompletionHandle(pending);
    }

    /// <summary>The whole completion.</summary>
    public Task<CompletionResult> CompleteAsync(CompletionRequest request, CancellationToken cancellation = default) =>
        Submit(request, cancellation).Result;

    /// <summary>The completion as text deltas, each sent as soon as it is final; the last carries the finish reason.</summary>
    public async IAsyncEnumerable<CompletionDelta> StreamAsync(CompletionRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        // a consumer that stops reading early ends the request, so its rows leave the batch
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var handle = Submit(request, stop.Token);
        try
        {
            await foreach (var d in handle.Deltas.ReadAllAsync(cancellation)) yield return d;
        }
        finally
        {
            if (!handle.Result.IsCompleted) stop.Cancel();
        }
    }

    private (int Steps, int[] Prompt) Check(CompletionRequest r)
    {
        if (r.MaxTokens < 1 || r.MaxTokens > Options.MaxTokensLimit)
            throw new CompletionRequestException($"max_tokens must be in [1, {Options.MaxTokensLimit}] (got {r.MaxTokens})", "max_tokens");
        int steps = r.Steps ?? Options.DefaultSteps;
        if (steps < 1 || steps > Options.MaxSteps)
            throw new CompletionRequestException($"steps must be in [1, {Options.MaxSteps}] (got {steps})", "steps");
        if (!(r.Temperature > 0) || double.IsInfinity(r.Temperature))
            throw new CompletionRequestException($"temperature must be a positive number (got {r.Temperature})", "temperature");
        if (!(r.TopP > 0 && r.TopP <= 1)) throw new CompletionRequestException($"top_p must be in (0, 1] (got {r.TopP})", "top_p");
        if (r.Stop is { Count: > 4 }) throw new CompletionRequestException($"at most 4 stop sequences are allowed (got {r.Stop.Count})", "stop");
        var prompt = Gpt2Tokenizer.Instance.Encode(r.Prompt ?? "");
        _backend.CheckLengths(prompt.Length + 1, r.MaxTokens);
        return (steps, prompt);
    }

    private void WorkLoop()
    {
        var batch = new List<PendingCompletion>();
        while (true)
        {
            batch.Clear();
            lock (_queue)
            {
                while (!_disposed && _queue.Count == 0) Monitor.Wait(_queue);
                if (_disposed) break;
                if (Options.BatchWindow > TimeSpan.Zero && _queue.First!.Value.Block == 0)
                {
                    var until = DateTime.UtcNow + Options.BatchWindow;
                    while (!_disposed && _queue.Count < Options.MaxBatch && DateTime.UtcNow < until)
                        Monitor.Wait(_queue, until - DateTime.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero);
                    if (_disposed) break;
                }
                var key = _queue.First!.Value.Key;
                for (var node = _queue.First; node is not null && batch.Count < Options.MaxBatch;)
                {
                    var next = node.Next;
                    var p = node.Value;
                    if (p.Finished) { _queue.Remove(node); if (p.Block == 0) _waiting--; }
                    else if (p.Key == key) { _queue.Remove(node); if (p.Block == 0) _waiting--; batch.Add(p); }
                    node = next;
                }
            }
            if (batch.Count == 0) continue;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            int calls;
            try
            {
                calls = _backend.Run(batch);
            }
            catch (Exception e)
            {
                foreach (var p in batch) p.Fail(e is SdttException ? e : new SdttException($"sampling failed: {e.Message}", e));
                continue;
            }
            try { Options.OnBatch?.Invoke(new BatchInfo(batch.Count, batch[0].Key.SeqLen, batch[0].Key.Steps, calls, watch.Elapsed)); }
            catch (Exception) { /* an observer's failure must not stop the engine */ }
            lock (_queue)
            {
                // unfinished requests continue with their next semi-autoregressive block, ahead of newcomers
                foreach (var p in Enumerable.Reverse(batch))
                    if (!p.Finished) { p.Key = _backend.KeyOf(p); _queue.AddFirst(p); }
            }
        }
        lock (_queue)
        {
            foreach (var p in _queue) p.Fail(new ObjectDisposedException(nameof(CompletionEngine)));
            _queue.Clear();
        }
    }

    /// <summary>Stops the worker (waiting requests fail) and frees a model the engine loaded.</summary>
    public void Dispose()
    {
        lock (_queue)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_queue);
        }
        _worker.Join();
        _ownedModel?.Dispose();
    }
}

/// <summary>A queued request: its text deltas as they become final, and its result.</summary>
public sealed class CompletionHandle
{
    private readonly PendingCompletion _pending;
    internal CompletionHandle(PendingCompletion pending) => _pending = pending;

    /// <summary>Text deltas; the last one carries the finish reason. Completes with an exception if the request fails.</summary>
    public System.Threading.Channels.ChannelReader<CompletionDelta> Deltas => _pending.Deltas.Reader;
    /// <summary>The finished completion (cancelled when the caller's token is).</summary>
    public Task<CompletionResult> Result => _pending.Completion.Task;
    /// <summary>The request's seed (its own, or the one drawn for it).</summary>
    public long Seed => _pending.Seed;
    /// <summary>Tokens of the prompt (BOS not counted).</summary>
    public int PromptTokens => _pending.PromptTokens.Length;
}

/// <summary>A model behind the engine: how requests are grouped and how one batch is sampled.</summary>
internal interface IBatchBackend
{
    ServedModelKind Kind { get; }
    int ContextLength { get; }
    /// <summary>Throws <see cref="CompletionRequestException"/> if a prompt of this many tokens (with BOS) and this many
    /// new tokens cannot be served.</summary>
    void CheckLengths(int contextTokens, int maxTokens);
    /// <summary>The grouping key of the request's next block.</summary>
    (int SeqLen, int Steps) KeyOf(PendingCompletion p);
    /// <summary>Samples one block (diffusion) or the whole generation (GPT) for requests with equal keys, feeding each
    /// request's tokens to it in order; returns the network calls made.</summary>
    int Run(IReadOnlyList<PendingCompletion> batch);
}
