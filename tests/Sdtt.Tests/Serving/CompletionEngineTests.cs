using Sdtt.Serving;

namespace Sdtt.Tests.Serving;

/// <summary>The completion engine on tiny untrained models: per-request seeds inside batches, per-request cancellation,
/// streaming, stop sequences, semi-autoregressive blocks, previews, validation and the bounded queue.</summary>
public class CompletionEngineTests : IClassFixture<ServingModels>
{
    private readonly ServingModels _models;
    public CompletionEngineTests(ServingModels models) => _models = models;

    private CompletionEngine Open(string dir, List<BatchInfo>? batches = null, int window = 300, int maxQueue = 64) =>
        CompletionEngine.Open(dir, new CompletionEngineOptions
        {
            BatchWindow = TimeSpan.FromMilliseconds(window),
            MaxQueue = maxQueue,
            OnBatch = b => { if (batches is not null) lock (batches) batches.Add(b); },
        });

    /// <summary>OnBatch runs after the batch's results are delivered: wait for it.</summary>
    internal static void WaitFor(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < until) Thread.Sleep(5);
        Assert.True(condition(), "timed out waiting");
    }

    private static int Count(List<BatchInfo> b) { lock (b) return b.Count; }

    private static CompletionRequest Req(long seed, int max = 24, double t = 1.0, double p = 1.0, string prompt = "The President said") =>
        new() { Prompt = prompt, MaxTokens = max, Seed = seed, Temperature = t, TopP = p, Steps = 8 };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SeededRequestGivesTheSameTextAloneAndBatched(bool gpt)
    {
        var batches = new List<BatchInfo>();
        using var engine = Open(gpt ? _models.GptDir : _models.DitDir, batches);
        var alone = await engine.CompleteAsync(Req(11, t: 0.9, p: 0.95));
        WaitFor(() => Count(batches) == 1);
        Assert.Equal(1, batches.Single().Size);

        // the same request among others with their own seeds and settings (same prompt length, so GPT batches them too)
        var mates = new[] { Req(1), Req(2, t: 0.7), Req(11, t: 0.9, p: 0.95), Req(3, p: 0.5, prompt: "The Senate voted") };
        var results = await Task.WhenAll(mates.Select(r => engine.CompleteAsync(r)));
        WaitFor(() => Count(batches) == 2);
        Assert.Equal(4, batches[1].Size);
        Assert.Equal(alone.Text, results[2].Text);
        Assert.Equal(alone.CompletionTokens, results[2].CompletionTokens);
        Assert.NotEqual(results[0].Text, results[1].Text);   // different seeds, different streams
        Assert.NotEqual(results[0].Text, results[2].Text);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CancellingOneRequestKeepsItsBatchMates(bool gpt)
    {
        var batches = new List<BatchInfo>();
        using var engine = Open(gpt ? _models.GptDir : _models.DitDir, batches);
        var alone = await engine.CompleteAsync(Req(5, max: 40));
        using var cts = new CancellationTokenSource();
        // the victim's caller gives up at its third step, in the middle of the batch
        var victim = engine.Submit(Req(6, max: 40) with { OnPreview = p => { if (p.Step == 2) cts.Cancel(); } }, cts.Token);
        var mate = engine.Submit(Req(5, max: 40));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => victim.Result);
        var r = await mate.Result;
        WaitFor(() => Count(batches) == 2);
        Assert.Equal(alone.Text, r.Text);
        Assert.Equal(2, batches[1].Size);
    }

    [Fact]
    public async Task StreamedDeltasAddUpToTheTextAndEndWithTheFinishReason()
    {
        using var engine = Open(_models.DitDir);
        var full = await engine.CompleteAsync(Req(9, max: 30));
        var deltas = new List<CompletionDelta>();
        await foreach (var d in engine.StreamAsync(Req(9, max: 30))) deltas.Add(d);
        Assert.True(deltas.Count > 2, $"only {deltas.Count} deltas: text should stream as prefixes become final");
        Assert.Equal(full.Text, string.Concat(deltas.Select(d => d.Text)));
        Assert.Equal(full.FinishReason, deltas[^1].FinishReason);
        Assert.All(deltas[..^1], d => Assert.Null(d.FinishReason));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StopSequenceCutsTheTextBeforeIt(bool gpt)
    {
        using var engine = Open(gpt ? _models.GptDir : _models.DitDir, window: 0);
        var full = await engine.CompleteAsync(Req(21, max: 40));
        Assert.True(full.Text.Length > 12, full.Text);
        var stop = full.Text.Substring(8, 3);
        var cut = full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)];
        var r = await engine.CompleteAsync(Req(21, max: 40) with { Stop = new[] { stop } });
        Assert.Equal(cut, r.Text);
        Assert.Equal(FinishReasons.Stop, r.FinishReason);
        var streamed = new List<string>();
        await foreach (var d in engine.StreamAsync(Req(21, max: 40) with { Stop = new[] { stop } })) streamed.Add(d.Text);
        Assert.Equal(cut, string.Concat(streamed));
    }

    [Fact]
    public async Task LongGenerationRunsInSemiAutoregressiveBlocksWithPreviews()
    {
        var batches = new List<BatchInfo>();
        using var engine = Open(_models.DitDir, batches, window: 0);
        var previews = new List<CompletionPreview>();
        var r = await engine.CompleteAsync(Req(4, max: 150) with { OnPreview = p => previews.Add(p) });
        Assert.Equal(150, r.CompletionTokens);   // more than the model's context of 64
        Assert.Equal(FinishReasons.Length, r.FinishReason);
        // context 4 (BOS + 3 prompt tokens) + 60 new, then blocks of 32 context + 32 new: 60 + 32 + 32 + 26
        WaitFor(() => Count(batches) == 4);
        Assert.All(batches, b => Assert.Equal(ServingModels.DitLength, b.SeqLen));
        Assert.Equal(batches.Count - 1, previews.Max(p => p.Block));
        var first = previews.Where(p => p.Block == 0).ToList();
        Assert.True(first[0].MasksLeft > first[^1].MasksLeft);
        Assert.Equal(0, first[^1].MasksLeft);
    }

    [Fact]
    public async Task AStreamReaderThatStopsEarlyEndsItsRequest()
    {
        var batches = new List<BatchInfo>();
        using var engine = Open(_models.DitDir, batches, window: 0);
        // 150 tokens need 4 blocks; the reader leaves after the first delta, inside the first block
        await foreach (var d in engine.StreamAsync(Req(4, max: 150))) break;
        WaitFor(() => Count(batches) >= 1);
        Thread.Sleep(500);
        Assert.Equal(1, Count(batches));
        Assert.Equal(0, engine.QueueDepth);
    }

    [Theory]
    [InlineData(0, 8, "max_tokens")]
    [InlineData(5000, 8, "max_tokens")]
    [InlineData(8, 0, "steps")]
    [InlineData(8, 2000, "steps")]
    public void BadSettingsAreRefusedBeforeAnyWork(int maxTokens, int steps, string param)
    {
        using var engine = Open(_models.DitDir);
        var e = Assert.Throws<CompletionRequestException>(() => engine.Submit(Req(1, max: maxTokens) with { Steps = steps }));
        Assert.Equal(param, e.Param);
        var long_ = Assert.Throws<CompletionRequestException>(() => engine.Submit(Req(1) with { Prompt = string.Join(" ", Enumerable.Repeat("word", 80)) }));
        Assert.Equal("prompt", long_.Param);
        Assert.Throws<CompletionRequestException>(() => engine.Submit(Req(1) with { Temperature = 0 }));
    }

    [Fact]
    public async Task FullQueueRefusesAtOnce()
    {
        using var engine = Open(_models.DitDir, window: 2000, maxQueue: 2);
        var a = engine.Submit(Req(1, max: 4));
        var b = engine.Submit(Req(2, max: 4));
        Assert.Equal(2, engine.QueueDepth);
        Assert.Throws<QueueFullException>(() => engine.Submit(Req(3, max: 4)));
        await Task.WhenAll(a.Result, b.Result);
        Assert.Equal(0, engine.QueueDepth);
    }
}
