#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental
using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Sdtt.Server;
using Sdtt.Serving;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using OaiChatMessage = OpenAI.Chat.ChatMessage;

namespace Sdtt.Tests.Serving;

/// <summary>Servers on loopback (free ports) over the tiny DiT and GPT folders, shared by the HTTP tests.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public ServingModels Models { get; } = new();
    public SdttServer Dit { get; private set; } = null!;
    public SdttServer Gpt { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static ServerOptions Options(string dir, string id, int window = 150, int maxQueue = 64) => new()
    {
        ModelDir = dir,
        Port = 0,
        Engine = new CompletionEngineOptions { ModelId = id, DefaultSteps = 8, MaxQueue = maxQueue, BatchWindow = TimeSpan.FromMilliseconds(window) },
    };

    public async Task InitializeAsync()
    {
        Dit = await SdttServer.StartAsync(Options(Models.DitDir, "tiny-dit"));
        Gpt = await SdttServer.StartAsync(Options(Models.GptDir, "tiny-gpt"));
    }

    public async Task DisposeAsync()
    {
        await Dit.DisposeAsync();
        await Gpt.DisposeAsync();
        Http.Dispose();
        Models.Dispose();
    }
}

/// <summary><c>sdtt serve</c>'s HTTP API with real clients: the official OpenAI .NET ChatClient, the
/// Microsoft.Extensions.AI.OpenAI IChatClient adapter, and HttpClient for /v1/completions (schema and SSE chunk format),
/// bad requests, concurrency with dynamic batching, 429 and client disconnects.</summary>
public class ServerTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _f;
    public ServerTests(ServerFixture f) => _f = f;

    private static ChatClient OpenAiChat(SdttServer server, string model) =>
        new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });

    private static OaiChatMessage[] Conversation() => new OaiChatMessage[]
    {
        new SystemChatMessage("A conversation."),
        new UserChatMessage("What did the President say?"),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OfficialOpenAiChatClientGetsTheSameTextStreamedAndNot(bool gpt)
    {
        var server = gpt ? _f.Gpt : _f.Dit;
        var client = OpenAiChat(server, gpt ? "tiny-gpt" : "tiny-dit");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 20, Seed = 42, Temperature = 0.9f };
        ChatCompletion c = await client.CompleteChatAsync(Conversation(), options);
        Assert.Equal(ChatMessageRole.Assistant, c.Role);
        Assert.Contains(c.FinishReason, new[] { OpenAI.Chat.ChatFinishReason.Stop, OpenAI.Chat.ChatFinishReason.Length });
        Assert.True(c.Usage.OutputTokenCount > 0 && c.Usage.InputTokenCount > 0);
        var text = c.Content[0].Text;
        Assert.False(string.IsNullOrEmpty(text));

        var sb = new StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (var u in client.CompleteChatStreamingAsync(Conversation(), options))
        {
            updates++;
            foreach (var part in u.ContentUpdate) sb.Append(part.Text);
            if (u.FinishReason is { } fr) finish = fr;
        }
        Assert.Equal(text, sb.ToString());
        Assert.Equal(c.FinishReason, finish);
        Assert.True(updates >= 3, $"{updates} updates");
    }

    [Fact]
    public async Task ExtensionsAiAdapterTalksToTheServer()
    {
        IChatClient chat = OpenAiChat(_f.Dit, "tiny-dit").AsIChatClient();
        var messages = new List<AiChatMessage> { new(ChatRole.System, "A conversation."), new(ChatRole.User, "Hello there") };
        var options = new ChatOptions { MaxOutputTokens = 16, Seed = 7, Temperature = 0.8f, TopP = 0.9f };
        var r = await chat.GetResponseAsync(messages, options);
        Assert.False(string.IsNullOrEmpty(r.Text));
        Assert.NotNull(r.FinishReason);
        var streamed = new StringBuilder();
        await foreach (var u in chat.GetStreamingResponseAsync(messages, options)) streamed.Append(u.Text);
        Assert.Equal(r.Text, streamed.ToString());

        // the library's own IChatClient over the same model gives the same text for the same seed
        using var engine = CompletionEngine.Open(_f.Models.DitDir, new CompletionEngineOptions { DefaultSteps = 8 });
        IChatClient local = new SdttChatClient(engine);
        var lr = await local.GetResponseAsync(messages, options);
        Assert.Equal(r.Text, lr.Text);
        var ls = new StringBuilder();
        await foreach (var u in local.GetStreamingResponseAsync(messages, options)) ls.Append(u.Text);
        Assert.Equal(lr.Text, ls.ToString());
    }

    private async Task<(HttpStatusCode Status, string Body)> Post(SdttServer server, string path, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var resp = await _f.Http.PostAsync(new Uri(server.BaseAddress, path), content);
        return (resp.StatusCode, await resp.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CompletionsFollowTheOpenAiSchema()
    {
        var (status, body) = await Post(_f.Dit, "v1/completions", """{"model":"tiny-dit","prompt":"The President said","max_tokens":12,"seed":3,"temperature":0.9,"top_p":0.95,"steps":6}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var o = JsonNode.Parse(body)!.AsObject();
        Assert.StartsWith("cmpl-", (string)o["id"]!);
        Assert.Equal("text_completion", (string)o["object"]!);
        Assert.True((long)o["created"]! > 1_600_000_000);
        Assert.Equal("tiny-dit", (string)o["model"]!);
        var choice = o["choices"]!.AsArray().Single()!.AsObject();
        Assert.Equal(0, (int)choice["index"]!);
        Assert.Null(choice["logprobs"]);
        Assert.Contains((string)choice["finish_reason"]!, new[] { "stop", "length" });
        var text = (string)choice["text"]!;
        var usage = o["usage"]!.AsObject();
        Assert.Equal(3, (int)usage["prompt_tokens"]!);
        Assert.Equal((int)usage["prompt_tokens"]! + (int)usage["completion_tokens"]!, (int)usage["total_tokens"]!);
        if ((string)choice["finish_reason"]! == "length") Assert.Equal(12, (int)usage["completion_tokens"]!);

        // the same request streamed: SSE "data: {chunk}" events, the last chunk with the finish reason, then [DONE]
        var (s2, sse) = await Post(_f.Dit, "v1/completions", """{"model":"tiny-dit","prompt":"The President said","max_tokens":12,"seed":3,"temperature":0.9,"top_p":0.95,"steps":6,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal(HttpStatusCode.OK, s2);
        var events = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!.AsObject()).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", (string)c["object"]!));
        Assert.All(chunks, c => Assert.Equal((string)chunks[0]["id"]!, (string)c["id"]!));
        var withChoice = chunks.Where(c => c["choices"]!.AsArray().Count == 1).ToList();
        Assert.Equal(text, string.Concat(withChoice.Select(c => (string)c["choices"]![0]!["text"]!)));
        Assert.Equal((string)choice["finish_reason"]!, (string?)withChoice[^1]["choices"]![0]!["finish_reason"]);
        Assert.All(withChoice[..^1], c => Assert.Null(c["choices"]![0]!["finish_reason"]));
        Assert.Equal((int)usage["completion_tokens"]!, (int)chunks[^1]["usage"]!["completion_tokens"]!);   // include_usage
    }

    [Fact]
    public async Task BadRequestsGet400WithAnOpenAiErrorAndTheServerKeepsServing()
    {
        string longPrompt = string.Join(" ", Enumerable.Repeat("word", 100));
        var bad = new (string Path, string Body, string? Param)[]
        {
            ("v1/completions", "{not json", null),
            ("v1/completions", "[1,2]", null),
            ("v1/completions", """{"prompt":"hi"}""", "model"),
            ("v1/completions", """{"model":"gpt-4","prompt":"hi"}""", "model"),
            ("v1/completions", """{"model":"tiny-dit"}""", "prompt"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","max_tokens":0}""", "max_tokens"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","max_tokens":100000}""", "max_tokens"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","steps":0}""", "steps"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","steps":99999}""", "steps"),
            ("v1/completions", $$"""{"model":"tiny-dit","prompt":"{{longPrompt}}"}""", "prompt"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","temperature":"hot"}""", "temperature"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","n":2}""", "n"),
            ("v1/completions", """{"model":"tiny-dit","prompt":"hi","stream":"yes"}""", "stream"),
            ("v1/chat/completions", """{"model":"tiny-dit"}""", "messages"),
            ("v1/chat/completions", """{"model":"tiny-dit","messages":[{"content":"hi"}]}""", "messages[0].role"),
            ("v1/chat/completions", """{"model":"tiny-dit","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-3}""", "max_tokens"),
        };
        foreach (var (path, body, param) in bad)
        {
            var (status, text) = await Post(_f.Dit, path, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{body}: {status} {text}");
            var error = JsonNode.Parse(text)!["error"]!.AsObject();
            Assert.Equal("invalid_request_error", (string)error["type"]!);
            Assert.False(string.IsNullOrWhiteSpace((string)error["message"]!));
            Assert.DoesNotContain("   at ", text);   // no stack trace
            Assert.Equal(param, (string?)error["param"]);
        }
        // GPT: prompt + max_tokens beyond n_positions
        var (gs, gt) = await Post(_f.Gpt, "v1/completions", """{"model":"tiny-gpt","prompt":"hi","max_tokens":200}""");
        Assert.Equal(HttpStatusCode.BadRequest, gs);
        Assert.Equal("max_tokens", (string?)JsonNode.Parse(gt)!["error"]!["param"]);

        using var health = await _f.Http.GetAsync(new Uri(_f.Dit.BaseAddress, "health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var (ok, _) = await Post(_f.Dit, "v1/completions", """{"model":"tiny-dit","prompt":"hi","max_tokens":4}""");
        Assert.Equal(HttpStatusCode.OK, ok);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConcurrentClientsAllGetAnswersInBatchesLargerThanOne(bool gpt)
    {
        var server = gpt ? _f.Gpt : _f.Dit;
        string model = gpt ? "tiny-gpt" : "tiny-dit";
        var before = await Histogram(server);
        var prompts = new[] { "The President said", "The Senate voted", "The people asked", "The House passed", "Our nation faces", "The war ended" };
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Post(server, "v1/completions", $$"""{"model":"{{model}}","prompt":"{{prompts[i % prompts.Length]}}","max_tokens":10,"seed":{{i}}}""")));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.All(answers, a => Assert.NotNull(JsonNode.Parse(a.Body)!["choices"]![0]!["text"]));
        CompletionEngineTests.WaitFor(() => Histogram(server).Result.Sum - before.Sum >= 8);
        var after = await Histogram(server);
        double batches = after.Count - before.Count, requests = after.Sum - before.Sum, singles = after.Ones - before.Ones;
        Assert.Equal(8, requests);
        Assert.True(batches < 8 && singles < batches, $"{batches} batches, {singles} of size 1");

        using var models = await _f.Http.GetAsync(new Uri(server.BaseAddress, "v1/models"));
        var list = JsonNode.Parse(await models.Content.ReadAsStringAsync())!;
        Assert.Equal(model, (string)list["data"]![0]!["id"]!);
    }

    /// <summary>sdtt_batch_size from /metrics: observations, their sum (requests) and how many were batches of one.</summary>
    private async Task<(double Count, double Sum, double Ones)> Histogram(SdttServer server)
    {
        var text = await _f.Http.GetStringAsync(new Uri(server.BaseAddress, "metrics"));
        double Value(string prefix) => double.Parse(text.Split('\n').Single(l => l.StartsWith(prefix)).Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("# TYPE sdtt_request_latency_seconds histogram", text);
        Assert.Contains("sdtt_queue_depth", text);
        Assert.Contains("sdtt_requests_total", text);
        return (Value("sdtt_batch_size_count"), Value("sdtt_batch_size_sum"), Value("sdtt_batch_size_bucket{le=\"1\"}"));
    }

    [Fact]
    public async Task AFullQueueAnswers429AtOnce()
    {
        await using var server = await SdttServer.StartAsync(ServerFixture.Options(_f.Models.DitDir, "tiny-dit", window: 1500, maxQueue: 1));
        using var http = new HttpClient();
        using var c1 = new StringContent("""{"model":"tiny-dit","prompt":"hi","max_tokens":4}""", Encoding.UTF8, "application/json");
        var first = http.PostAsync(new Uri(server.BaseAddress, "v1/completions"), c1);
        CompletionEngineTests.WaitFor(() => server.Engine.QueueDepth == 1);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var c2 = new StringContent("""{"model":"tiny-dit","prompt":"hi","max_tokens":4}""", Encoding.UTF8, "application/json");
        using var second = await http.PostAsync(new Uri(server.BaseAddress, "v1/completions"), c2);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.True(watch.ElapsedMilliseconds < 1000, $"429 took {watch.ElapsedMilliseconds} ms");
        Assert.Equal("rate_limit_error", (string)JsonNode.Parse(await second.Content.ReadAsStringAsync())!["error"]!["type"]!);
        using var r1 = await first;
        Assert.Equal(HttpStatusCode.OK, r1.StatusCode);
    }

    [Fact]
    public async Task AClientThatDisconnectsMidStreamCancelsItsWork()
    {
        await using var server = await SdttServer.StartAsync(ServerFixture.Options(_f.Models.DitDir, "tiny-dit", window: 0));
        using var http = new HttpClient();
        var req = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, "v1/completions"))
        {
            Content = new StringContent("""{"model":"tiny-dit","prompt":"hi","max_tokens":4000,"steps":64,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        var stream = await resp.Content.ReadAsStreamAsync();
        var reader = new StreamReader(stream);
        var line = await reader.ReadLineAsync();
        Assert.StartsWith("data: ", line);
        resp.Dispose();   // disconnect after the first chunk of a ~60-block generation
        string metrics = "";
        CompletionEngineTests.WaitFor(() => (metrics = http.GetStringAsync(new Uri(server.BaseAddress, "metrics")).Result)
            .Contains("sdtt_requests_total{endpoint=\"/v1/completions\",status=\"499\"} 1"));
        // the engine stops sampling it: network calls stop growing and the server keeps answering
        double Calls() => double.Parse(http.GetStringAsync(new Uri(server.BaseAddress, "metrics")).Result.Split('\n')
            .Single(l => l.StartsWith("sdtt_network_calls_total ")).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Thread.Sleep(300);
        double a = Calls();
        Thread.Sleep(500);
        Assert.Equal(a, Calls());
        Assert.True(a < 64 * 60, $"{a} network calls: the whole generation ran");
        using var c = new StringContent("""{"model":"tiny-dit","prompt":"hi","max_tokens":4}""", Encoding.UTF8, "application/json");
        using var ok = await http.PostAsync(new Uri(server.BaseAddress, "v1/completions"), c);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}
