using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Serving;
using static TorchSharp.torch;

namespace Sdtt.Server;

/// <summary>Settings of <c>sdtt bench serve</c>.</summary>
public sealed record ServeBenchmarkOptions
{
    /// <summary>A DiT folder to serve (null = an untrained model of <see cref="Size"/>).</summary>
    public string? DiffusionDir { get; init; }
    /// <summary>A GPT folder to serve (null = an untrained GPT of the same shape as the DiT).</summary>
    public string? GptDir { get; init; }
    /// <summary>Size of the untrained models (tiny, demo, small, …).</summary>
    public string Size { get; init; } = "demo";
    /// <summary>Diffusion steps per request.</summary>
    public int Steps { get; init; } = 16;
    /// <summary>Prompt tokens (windows of a fixed text; BOS is added), at most 32.</summary>
    public int PromptTokens { get; init; } = 31;
    /// <summary>Tokens generated per request (EOS ignored so every request makes exactly this many).</summary>
    public int MaxTokens { get; init; } = 96;
    /// <summary>Concurrency levels (clients sending back to back).</summary>
    public IReadOnlyList<int> Concurrency { get; init; } = new[] { 1, 4, 16 };
    /// <summary>Most requests per level.</summary>
    public int Requests { get; init; } = 64;
    /// <summary>Most seconds per level (no new request starts after it).</summary>
    public double Seconds { get; init; } = 60;
    /// <summary>Server batch limit.</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>Clients of the disconnect storm (0 = none): each streams and disconnects after its first chunk.</summary>
    public int Storm { get; init; } = 200;
    /// <summary>Which servers: "diffusion", "ar" or both.</summary>
    public IReadOnlyList<string> Servers { get; init; } = new[] { "diffusion", "ar" };

    /// <summary>Throws <see cref="SdttException"/> for an invalid setting.</summary>
    public ServeBenchmarkOptions Validate()
    {
        if (Steps < 1) throw new SdttException($"--steps must be ≥ 1 (got {Steps})");
        if (PromptTokens < 1 || PromptTokens > 32) throw new SdttException($"--prompt-tokens must be in [1, 32] (got {PromptTokens})");
        if (MaxTokens < 1) throw new SdttException($"--max-tokens must be ≥ 1 (got {MaxTokens})");
        if (Concurrency.Count == 0 || Concurrency.Any(c => c < 1)) throw new SdttException("--concurrency needs positive integers");
        if (Requests < 1) throw new SdttException($"--requests must be ≥ 1 (got {Requests})");
        if (!(Seconds > 0)) throw new SdttException($"--seconds must be positive (got {Seconds})");
        if (Storm < 0) throw new SdttException($"--storm must be ≥ 0 (got {Storm})");
        if (Servers.Count == 0 || Servers.Any(s => s is not ("diffusion" or "ar"))) throw new SdttException("--servers takes diffusion, ar or both");
        if (DiffusionDir is not null && !Directory.Exists(DiffusionDir)) throw new SdttException($"--diffusion folder '{DiffusionDir}' does not exist");
        if (GptDir is not null && !Directory.Exists(GptDir)) throw new SdttException($"--gpt folder '{GptDir}' does not exist");
        DitConfig.FromName(Size);
        return this;
    }
}

/// <summary>One concurrency level of one server.</summary>
public sealed record ServeBenchmarkRow(string Server, int Concurrency, int Requests, int Failed, double RequestsPerSecond,
    double P50Seconds, double P95Seconds, double MeanBatch, double RooflineRequestsPerSecond, double RooflineLatencySeconds);

/// <summary>The disconnect storm of one server.</summary>
public sealed record StormResult(string Server, int Clients, int Streamed, int Refused, double RssBeforeMb, double RssAfterMb, bool ServingAfter)
{
    /// <summary>Within 10 % or 50 MB of the resident memory after warm-up.</summary>
    public bool WithinBound => RssAfterMb - RssBeforeMb <= Math.Max(0.10 * RssBeforeMb, 50);
}

/// <summary>The benchmark's results.</summary>
public sealed record ServeBenchmarkReport(IReadOnlyList<ServeBenchmarkRow> Rows, IReadOnlyList<StormResult> Storms, MachineCeilings Machine,
    string Workload, IReadOnlyList<string> Summary)
{
    /// <summary>The README table.</summary>
    public string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| server | concurrency | requests | req/s | p50 (s) | p95 (s) | mean batch | roofline req/s | measured / roofline |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in Rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Server} | {r.Concurrency} | {r.Requests}{(r.Failed > 0 ? $" ({r.Failed} failed)" : "")} | {r.RequestsPerSecond:F2} | {r.P50Seconds:F3} | {r.P95Seconds:F3} | {r.MeanBatch:F1} | {r.RooflineRequestsPerSecond:F2} | {r.RequestsPerSecond / r.RooflineRequestsPerSecond:P0} |"));
        return sb.ToString();
    }
}

/// <summary><c>sdtt bench serve</c>: requests/s and p50/p95 latency of the HTTP server on loopback at several
/// concurrency levels, for a diffusion model against the same-size GPT with KV cache served by the same server
/// (concurrent GPT requests are batched into one KV-cached decode), bounded in time and count; the roofline prediction
/// beside each measurement; then a storm of clients that disconnect mid-stream, with resident memory before and after.</summary>
public static class ServeBenchmark
{
    /// <summary>A fixed public-domain text (Lincoln, 1863) cut into prompt windows.</summary>
    public const string PromptText =
        "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated " +
        "to the proposition that all men are created equal. Now we are engaged in a great civil war, testing whether that nation, or any " +
        "nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a " +
        "portion of that field, as a final resting place for those who here gave their lives that that nation might live.";

    /// <summary>Runs the benchmark; <paramref name="log"/> gets progress lines.</summary>
    public static async Task<ServeBenchmarkReport> RunAsync(ServeBenchmarkOptions o, Action<string>? log = null)
    {
        o.Validate();
        log ??= _ => { };
        TorchRuntime.EnsureLoaded();
        string? temp = null;
        try
        {
            var ditDir = o.DiffusionDir;
            var gptDir = o.GptDir;
            if (ditDir is null || gptDir is null)
            {
                temp = Path.Combine(Path.GetTempPath(), "sdtt-bench-serve-" + Guid.NewGuid().ToString("N")[..8]);
                var cfg = DitConfig.FromName(o.Size) with { ModelLength = Math.Max(128, o.PromptTokens + 1 + o.MaxTokens) };
                manual_seed(1);
                if (ditDir is null) { ditDir = Path.Combine(temp, "dit"); using var dit = new Dit(cfg); ModelFolder.SaveDit(ditDir, dit); }
                if (gptDir is null) { gptDir = Path.Combine(temp, "gpt"); using var gpt = new GptModel(GptConfig.Matching(cfg, GptConfig.Gpt2VocabSize) with { NPositions = Math.Max(cfg.ModelLength, o.PromptTokens + 1 + o.MaxTokens) }); GptModelFolder.Save(gptDir, gpt); }
                log($"untrained {o.Size} models in {temp}");
            }
            var machine = MachineCeilings.Measure();
            log(string.Create(CultureInfo.InvariantCulture, $"machine: {machine.FlopsPerSecond / 1e9:F1} GFLOP/s (fp32 matmul), {machine.BytesPerSecond / 1e9:F1} GB/s (copy)"));
            var tokens = Gpt2Tokenizer.Instance.Encode(PromptText + " " + PromptText);
            var prompts = Enumerable.Range(0, 16).Select(i => Gpt2Tokenizer.Instance.Decode(tokens.Skip(3 * i).Take(o.PromptTokens))).ToArray();
            // a window may re-encode to a different count; keep those of exactly the stated length (GPT batches equal lengths)
            prompts = prompts.Where(p => Gpt2Tokenizer.Instance.Encode(p).Length == o.PromptTokens).ToArray();
            if (prompts.Length == 0) throw new SdttException("no prompt window re-encodes to the requested length");

            var rows = new List<ServeBenchmarkRow>();
            var storms = new List<StormResult>();
            foreach (var kind in o.Servers)
            {
                bool diffusion = kind == "diffusion";
                var dir = diffusion ? ditDir : gptDir;
                var name = diffusion ? $"diffusion ({o.Steps} steps)" : "AR + KV cache";
                var options = new ServerOptions
                {
                    ModelDir = dir, Port = 0,
                    Engine = new CompletionEngineOptions { ModelId = "bench", MaxBatch = o.MaxBatch, MaxQueue = Math.Max(64, o.Storm + 16), DefaultSteps = o.Steps, MaxSteps = Math.Max(1024, o.Steps), LengthBucket = 1 },
                };
                await using var server = await SdttServer.StartAsync(options);
                if (diffusion != (server.Engine.Kind == ServedModelKind.Diffusion))
                    throw new SdttException($"'{dir}' is not a {(diffusion ? "diffusion" : "GPT")} model folder");
                using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
                var cfgJson = ModelFolder.ReadConfigJson(dir);
                log($"{name}: serving {dir} on {server.BaseAddress}");
                await Level(http, o, prompts, 1, Math.Min(2, o.Requests), o.Seconds, seedBase: 1_000_000);   // warm-up
                foreach (var c in o.Concurrency)
                {
                    double count0 = server.Metrics.BatchSize.Count, sum0 = server.Metrics.BatchSize.Sum;
                    var (lat, failed, wall) = await Level(http, o, prompts, c, o.Requests, o.Seconds, seedBase: c * 10_000);
                    double batches = server.Metrics.BatchSize.Count - count0, requests = server.Metrics.BatchSize.Sum - sum0;
                    int b = Math.Min(c, o.MaxBatch);
                    int ctx = o.PromptTokens + 1;
                    double predicted = diffusion
                        ? ServingRoofline.Diffusion(ModelFolder.ReadDitConfig(dir), b, ctx + o.MaxTokens, o.MaxTokens, Math.Min(o.Steps, o.MaxTokens), machine)
                        : ServingRoofline.Autoregressive(GptModelFolder.ReadConfig(dir), b, ctx, o.MaxTokens, machine);
                    lat.Sort();
                    var row = new ServeBenchmarkRow(name, c, lat.Count, failed, lat.Count / wall, Percentile(lat, 0.5), Percentile(lat, 0.95),
                        batches > 0 ? requests / batches : 0, b / predicted, predicted);
                    rows.Add(row);
                    log(string.Create(CultureInfo.InvariantCulture, $"{name}, concurrency {c}: {row.Requests} requests, {row.RequestsPerSecond:F2} req/s, p50 {row.P50Seconds:F3} s, p95 {row.P95Seconds:F3} s, mean batch {row.MeanBatch:F1} (roofline {row.RooflineRequestsPerSecond:F2} req/s)"));
                }
                if (o.Storm > 0)
                {
                    var storm = await Storm(http, server, o, prompts, name);
                    storms.Add(storm);
                    log(string.Create(CultureInfo.InvariantCulture, $"{name}: storm of {storm.Clients}: {storm.Streamed} streamed then disconnected, {storm.Refused} refused; RSS {storm.RssBeforeMb:F0} → {storm.RssAfterMb:F0} MB; serving after: {storm.ServingAfter}"));
                }
            }
            var workload = $"{o.Size} size{(o.DiffusionDir is null ? " (untrained)" : "")}, prompts of {o.PromptTokens} tokens (+BOS), {o.MaxTokens} generated tokens (EOS ignored), diffusion {o.Steps} steps, max batch {o.MaxBatch}, at most {o.Requests} requests or {o.Seconds:F0} s per level";
            return new ServeBenchmarkReport(rows, storms, machine, workload, Summarise(rows, storms));
        }
        finally
        {
            if (temp is not null) try { Directory.Delete(temp, true); } catch (IOException) { }
        }
    }

    private static List<string> Summarise(List<ServeBenchmarkRow> rows, List<StormResult> storms)
    {
        var s = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        var d1 = rows.FirstOrDefault(r => r.Server.StartsWith("diffusion") && r.Concurrency == 1);
        var a1 = rows.FirstOrDefault(r => r.Server.StartsWith("AR") && r.Concurrency == 1);
        if (d1 is not null && a1 is not null)
            s.Add(string.Create(inv, $"concurrency 1: AR p50 / diffusion p50 = {a1.P50Seconds / d1.P50Seconds:F2}x (roofline predicts {a1.RooflineLatencySeconds / d1.RooflineLatencySeconds:F2}x; target ≥ 3x: {(a1.P50Seconds / d1.P50Seconds >= 3 ? "met" : "not met")})"));
        int top = rows.Count == 0 ? 0 : rows.Max(r => r.Concurrency);
        foreach (var r in rows.Where(r => r.Concurrency == top))
            s.Add(string.Create(inv, $"concurrency {top}: {r.Server} reaches {r.RequestsPerSecond / r.RooflineRequestsPerSecond:P0} of its roofline throughput ({r.RequestsPerSecond:F2} of {r.RooflineRequestsPerSecond:F2} req/s; target ≥ 50%: {(r.RequestsPerSecond >= 0.5 * r.RooflineRequestsPerSecond ? "met" : "not met")})"));
        var dt = rows.FirstOrDefault(r => r.Server.StartsWith("diffusion") && r.Concurrency == top);
        var at = rows.FirstOrDefault(r => r.Server.StartsWith("AR") && r.Concurrency == top);
        if (dt is not null && at is not null)
            s.Add(string.Create(inv, $"concurrency {top}: AR / diffusion throughput = {at.RequestsPerSecond / dt.RequestsPerSecond:F2}x (roofline predicts {at.RooflineRequestsPerSecond / dt.RooflineRequestsPerSecond:F2}x)"));
        foreach (var st in storms)
            s.Add(string.Create(inv, $"storm ({st.Server}): {st.Clients} clients disconnected mid-stream; resident memory {st.RssBeforeMb:F0} MB after warm-up, {st.RssAfterMb:F0} MB after the storm ({(st.WithinBound ? "within" : "NOT within")} 10 % or 50 MB); server answering afterwards: {st.ServingAfter}"));
        return s;
    }

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

    private static string Body(ServeBenchmarkOptions o, string prompt, long seed, bool stream) => new JsonObject
    {
        ["model"] = "bench", ["prompt"] = prompt, ["max_tokens"] = o.MaxTokens, ["seed"] = seed, ["ignore_eos"] = true, ["stream"] = stream,
    }.ToJsonString();

    /// <summary>c clients sending back to back until <paramref name="count"/> requests started or the time is up.</summary>
    private static async Task<(List<double> Latencies, int Failed, double Wall)> Level(HttpClient http, ServeBenchmarkOptions o, string[] prompts, int c, int count, double seconds, long seedBase)
    {
        var latencies = new List<double>();
        int started = 0, failed = 0;
        var wall = Stopwatch.StartNew();
        async Task Client()
        {
            while (true)
            {
                int i = Interlocked.Increment(ref started) - 1;
                if (i >= count || wall.Elapsed.TotalSeconds > seconds) return;
                using var content = new StringContent(Body(o, prompts[i % prompts.Length], seedBase + i, false), Encoding.UTF8, "application/json");
                var w = Stopwatch.StartNew();
                using var resp = await http.PostAsync("v1/completions", content);
                await resp.Content.ReadAsStringAsync();
                if (resp.IsSuccessStatusCode) lock (latencies) latencies.Add(w.Elapsed.TotalSeconds);
                else Interlocked.Increment(ref failed);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, c).Select(_ => Task.Run(Client)));
        return (latencies, failed, wall.Elapsed.TotalSeconds);
    }

    /// <summary>A warm-up storm (twice the batch limit, so full batches of the storm's shapes have run), resident memory,
    /// then the storm: every client streams a request and disconnects after its first event; once the engine is idle,
    /// resident memory again and one ordinary request.</summary>
    private static async Task<StormResult> Storm(HttpClient http, SdttServer server, ServeBenchmarkOptions o, string[] prompts, string name)
    {
        await StormRound(http, server, o, prompts, Math.Min(o.Storm, 2 * o.MaxBatch), 6_000_000);
        Settle();
        double before = RssMb();
        var (streamed, refused) = await StormRound(http, server, o, prompts, o.Storm, 7_000_000);
        Settle();
        double after = RssMb();
        using var content = new StringContent(Body(o with { MaxTokens = 4 }, prompts[0], 1, false), Encoding.UTF8, "application/json");
        using var ok = await http.PostAsync("v1/completions", content);
        return new StormResult(name, o.Storm, streamed, refused, before, after, ok.IsSuccessStatusCode);
    }

    private static async Task<(int Streamed, int Refused)> StormRound(HttpClient http, SdttServer server, ServeBenchmarkOptions o, string[] prompts, int clients, long seedBase)
    {
        int streamed = 0, refused = 0;
        async Task Client(int i)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var req = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent(Body(o, prompts[i % prompts.Length], seedBase + i, true), Encoding.UTF8, "application/json"),
            };
            try
            {
                using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                if (!resp.IsSuccessStatusCode) { Interlocked.Increment(ref refused); return; }
                using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(cts.Token));
                await reader.ReadLineAsync(cts.Token);   // the first event
                Interlocked.Increment(ref streamed);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException) { Interlocked.Increment(ref refused); }
            // disposing the response here closes the connection mid-stream
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(() => Client(i))));
        var until = DateTime.UtcNow.AddMinutes(2);
        while (server.Engine.QueueDepth > 0 && DateTime.UtcNow < until) await Task.Delay(50);
        await Task.Delay(500);
        return (streamed, refused);
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>VmRSS of this process in MB (Linux), else the working set.</summary>
    public static double RssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:"))
                    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException) { }
        return Environment.WorkingSet / 1048576.0;
    }
}
