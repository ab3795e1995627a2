using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using Sdtt.Serving;

namespace Sdtt.Server;

/// <summary>The OpenAI-compatible HTTP server of <c>sdtt serve</c> (ASP.NET Core / Kestrel) over one
/// <see cref="CompletionEngine"/>: <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c> (with <c>stream</c>:
/// server-sent events in the OpenAI chunk format ending with <c>[DONE]</c>), <c>GET /v1/models</c>, <c>GET /health</c>,
/// <c>GET /metrics</c> (Prometheus). Bad requests get 400 with an OpenAI error body, a full queue 429, and a client that
/// disconnects cancels its rows in the batch.</summary>
public sealed class SdttServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SdttServer(WebApplication app, CompletionEngine engine, ServingMetrics metrics, Uri baseAddress)
    {
        _app = app;
        Engine = engine;
        Metrics = metrics;
        BaseAddress = baseAddress;
    }

    /// <summary>The engine behind the API.</summary>
    public CompletionEngine Engine { get; }
    /// <summary>The metrics served at /metrics.</summary>
    public ServingMetrics Metrics { get; }
    /// <summary>Where the server listens, e.g. http://127.0.0.1:8080/ (the real port when 0 was asked).</summary>
    public Uri BaseAddress { get; }

    /// <summary>Loads the model and starts listening; returns once requests are accepted.</summary>
    public static async Task<SdttServer> StartAsync(ServerOptions options, CancellationToken ct = default)
    {
        options.Validate();
        var metrics = new ServingMetrics();
        var engine = CompletionEngine.Open(options.ModelDir, options.Engine with { OnBatch = metrics.OnBatch });
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>(), ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            if (options.ConsoleLog) builder.Logging.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(k =>
            {
                if (options.Host == "localhost") k.ListenLocalhost(options.Port);
                else k.Listen(IPAddress.Parse(options.Host), options.Port);
            });
            var app = builder.Build();
            metrics.Registry.AddBeforeCollectCallback(() => metrics.QueueDepth.Set(engine.QueueDepth));
            var api = new Endpoints(engine, metrics);
            app.Use(api.Guard);
            app.MapPost("/v1/completions", api.Completions);
            app.MapPost("/v1/chat/completions", api.ChatCompletions);
            app.MapGet("/v1/models", api.Models);
            app.MapGet("/health", api.Health);
            app.MapMetrics("/metrics", metrics.Registry);
            await app.StartAsync(ct);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new SdttServer(app, engine, metrics, new Uri(address.Replace("[::]", "127.0.0.1").TrimEnd('/') + "/"));
        }
        catch (IOException e)
        {
            engine.Dispose();
            throw new SdttException($"cannot listen on {options.Host}:{options.Port}: {e.Message}");
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>Completes when the server is stopped (<paramref name="ct"/> cancelled).</summary>
    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    /// <summary>Stops listening, then the engine.</summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(timeout.Token); }
        catch (OperationCanceledException) { }
        await _app.DisposeAsync();
        Engine.Dispose();
    }

    /// <summary>The request handlers.</summary>
    private sealed class Endpoints(CompletionEngine engine, ServingMetrics metrics)
    {
        /// <summary>Every error becomes an OpenAI JSON body with its status; nothing else escapes (no stack trace).</summary>
        public async Task Guard(HttpContext ctx, Func<Task> next)
        {
            try
            {
                await next();
            }
            catch (Exception e) when (ctx.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
            {
                // the client went away; its work was cancelled through RequestAborted
            }
            catch (Exception e)
            {
                var error = e switch
                {
                    ApiError a => a,
                    QueueFullException q => new ApiError(429, q.Message, "rate_limit_error", code: "rate_limit_exceeded"),
                    CompletionRequestException c => new ApiError(400, c.Message, param: c.Param),
                    Microsoft.AspNetCore.Http.BadHttpRequestException b => new ApiError(400, b.Message),
                    _ => new ApiError(500, $"internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}", "server_error"),
                };
                if (ctx.Response.HasStarted) return;   // mid-stream: the connection just ends
                ctx.Response.Clear();
                ctx.Response.StatusCode = error.Status;
                await WriteJson(ctx, error.ToJson());
            }
            finally
            {
                var path = ctx.Request.Path.Value ?? "";
                if (path.StartsWith("/v1/")) metrics.Requests.WithLabels(path, ctx.RequestAborted.IsCancellationRequested ? "499" : ctx.Response.StatusCode.ToString()).Inc();
            }
        }

        public Task Completions(HttpContext ctx) => Serve(ctx, chat: false);
        public Task ChatCompletions(HttpContext ctx) => Serve(ctx, chat: true);

        private async Task Serve(HttpContext ctx, bool chat)
        {
            var watch = Stopwatch.StartNew();
            var ct = ctx.RequestAborted;
            var body = await OpenAiProtocol.ReadObjectAsync(ctx.Request.Body, ct);
            var api = chat ? OpenAiProtocol.ParseChat(body, engine.ModelId) : OpenAiProtocol.ParseCompletion(body, engine.ModelId);
            var handle = engine.Submit(api.Request, ct);   // 400 and 429 are thrown here, before any byte is sent
            string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            string model = engine.ModelId;
            string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
            if (!api.Stream)
            {
                var r = await handle.Result.WaitAsync(ct);
                var usage = OpenAiProtocol.Usage(r.PromptTokens, r.CompletionTokens);
                await WriteJson(ctx, chat ? OpenAiProtocol.ChatJson(id, created, model, r.Text, r.FinishReason, usage)
                    : OpenAiProtocol.CompletionJson(id, created, model, r.Text, r.FinishReason, usage));
                Done(r);
                return;
            }
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            if (chat) await Event(ctx, OpenAiProtocol.ChatChunkJson(id, created, model, new JsonObject { ["role"] = "assistant", ["content"] = "" }, null, null));
            else await ctx.Response.Body.FlushAsync(ct);
            await foreach (var d in handle.Deltas.ReadAllAsync(ct))
            {
                if (d.Text.Length == 0 && d.FinishReason is null) continue;
                var delta = d.Text.Length > 0 ? new JsonObject { ["content"] = d.Text } : new JsonObject();
                await Event(ctx, chat ? OpenAiProtocol.ChatChunkJson(id, created, model, delta, d.FinishReason, null)
                    : OpenAiProtocol.CompletionJson(id, created, model, d.Text, d.FinishReason, null));
            }
            var result = await handle.Result;
            if (api.IncludeUsage)
            {
                var usage = OpenAiProtocol.Usage(result.PromptTokens, result.CompletionTokens);
                var last = chat ? OpenAiProtocol.ChatChunkJson(id, created, model, null, null, usage) : OpenAiProtocol.CompletionJson(id, created, model, "", null, usage);
                if (!chat) last["choices"] = new JsonArray();   // OpenAI's usage chunk has no choice
                await Event(ctx, last);
            }
            await ctx.Response.WriteAsync("data: [DONE]\n\n", ct);
            await ctx.Response.Body.FlushAsync(ct);
            Done(result);

            void Done(CompletionResult r)
            {
                metrics.Latency.WithLabels(endpoint).Observe(watch.Elapsed.TotalSeconds);
                metrics.GeneratedTokens.Inc(r.CompletionTokens);
            }
        }

        public Task Models(HttpContext ctx) => WriteJson(ctx, new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(new JsonObject
            {
                ["id"] = engine.ModelId, ["object"] = "model", ["created"] = 0, ["owned_by"] = "sdtt",
                ["kind"] = engine.Kind == ServedModelKind.Diffusion ? "diffusion" : "autoregressive",
                ["context_length"] = engine.ContextLength,
            }),
        });

        public Task Health(HttpContext ctx) => WriteJson(ctx, new JsonObject { ["status"] = "ok", ["model"] = engine.ModelId, ["queue_depth"] = engine.QueueDepth });

        private static Task WriteJson(HttpContext ctx, JsonObject o)
        {
            ctx.Response.ContentType = "application/json";
            return ctx.Response.WriteAsync(o.ToJsonString(), ctx.RequestAborted);
        }

        private static async Task Event(HttpContext ctx, JsonObject o)
        {
            await ctx.Response.WriteAsync("data: " + o.ToJsonString() + "\n\n", ctx.RequestAborted);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
        }
    }
}
