using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Sdtt.Data;

namespace Sdtt.Serving;

/// <summary>The engine's state of one request: its tokens so far, the streaming text pipeline (detokenizer → stop
/// filter → channel), and a token that drops its rows from a batch once it is finished or its caller cancelled.</summary>
internal sealed class PendingCompletion
{
    private readonly StreamingDetokenizer _detokenizer = new();
    private readonly StopSequenceFilter _stops;
    private readonly StringBuilder _text = new();
    private readonly CancellationTokenSource _rows;
    private readonly CancellationToken _rowToken;
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private readonly CancellationTokenRegistration _callerRegistration;

    public PendingCompletion(CompletionRequest request, long seed, int steps, int[] promptTokens, CancellationToken caller)
    {
        Request = request;
        Seed = seed;
        Steps = steps;
        PromptTokens = promptTokens;
        Caller = caller;
        _stops = new StopSequenceFilter(request.Stop);
        _rows = CancellationTokenSource.CreateLinkedTokenSource(caller);
        _rowToken = _rows.Token;   // kept: the token stays readable after the source is disposed
        Context = new long[] { Gpt2Tokenizer.Bos }.Concat(promptTokens.Select(t => (long)t)).ToArray();
        // a caller that gives up ends the request at once (the batch drops its rows at its next step)
        _callerRegistration = caller.Register(() => Fail(new OperationCanceledException(caller)));
    }

    public CompletionRequest Request { get; }
    public long Seed { get; }
    public int Steps { get; }
    public int[] PromptTokens { get; }
    public CancellationToken Caller { get; }
    /// <summary>Cancelled when this request needs no more rows (finished, failed or abandoned by its caller).</summary>
    public CancellationToken RowToken => _rowToken;
    /// <summary>The prompt of the next block: [BOS] + prompt for the first, the tail of the text so far for later ones.</summary>
    public long[] Context { get; set; }
    /// <summary>Semi-autoregressive block index.</summary>
    public int Block { get; set; }
    /// <summary>Tokens generated so far (EOS excluded).</summary>
    public List<long> Generated { get; } = new();
    public int Remaining => Request.MaxTokens - Generated.Count;
    public bool Finished => Completion.Task.IsCompleted;
    public Channel<CompletionDelta> Deltas { get; } = Channel.CreateUnbounded<CompletionDelta>(new UnboundedChannelOptions { SingleReader = true });
    public TaskCompletionSource<CompletionResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Grouping key of the next block (requests with equal keys share a batch).</summary>
    public (int SeqLen, int Steps) Key { get; set; }

    /// <summary>Accepts one generated token (in order); returns false once the request is finished.</summary>
    public bool Accept(long token)
    {
        if (Finished) return false;
        if (token == Gpt2Tokenizer.Eos && !Request.IgnoreEos) { Finish(FinishReasons.Stop); return false; }
        Generated.Add(token);
        var piece = _stops.Push(_detokenizer.Push((int)token));
        Emit(piece);
        if (_stops.Stopped) { Finish(FinishReasons.Stop); return false; }
        if (Remaining <= 0) { Finish(FinishReasons.Length); return false; }
        return true;
    }

    private void Emit(string piece)
    {
        if (piece.Length == 0) return;
        _text.Append(piece);
        Deltas.Writer.TryWrite(new CompletionDelta(piece, null));
    }

    /// <summary>Ends the request: releases held text (not after a stop sequence) and completes stream and result.</summary>
    public void Finish(string reason)
    {
        if (Finished) return;
        if (!_stops.Stopped) Emit(_stops.Push(_detokenizer.Flush()) + _stops.Flush());
        var result = new CompletionResult(_text.ToString(), reason, PromptTokens.Length, Generated.Count, Seed, _watch.Elapsed);
        if (!Completion.TrySetResult(result)) return;
        Deltas.Writer.TryWrite(new CompletionDelta("", reason));
        Deltas.Writer.TryComplete();
        Release();
    }

    /// <summary>Ends the request with an error (cancellation, engine failure).</summary>
    public void Fail(Exception error)
    {
        bool set = error is OperationCanceledException oce ? Completion.TrySetCanceled(oce.CancellationToken) : Completion.TrySetException(error);
        if (!set) return;
        Deltas.Writer.TryComplete(error);
        Release();
    }

    /// <summary>Frees the registrations of a request that was never queued (queue full).</summary>
    public void Abandon()
    {
        _callerRegistration.Dispose();
        _rows.Dispose();
    }

    private void Release()
    {
        try { _rows.Cancel(); } catch (ObjectDisposedException) { }
        _callerRegistration.Dispose();
        _rows.Dispose();   // unlinks from the caller's token
    }
}
