using System.CommandLine;
using System.Globalization;
using Sdtt.Server;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt bench serve [--diffusion DIR] [--gpt DIR] [--size demo] [--steps 16] [--max-tokens 96]
/// [--prompt-tokens 31] [--concurrency 1,4,16] [--requests 64] [--seconds 60] [--storm 200] [--servers diffusion,ar]
/// [--threads N] [--out FILE]</c>: the HTTP server's load benchmark (see <see cref="ServeBenchmark"/>).</summary>
internal static class ServeBench
{
    public static Command Create()
    {
        var diffusion = new Option<string?>("--diffusion") { Description = "DiT folder to serve (default: an untrained model of --size)" };
        var gpt = new Option<string?>("--gpt") { Description = "GPT folder to serve (default: an untrained GPT of the same shape)" };
        var size = new Option<string>("--size") { Description = "Size of the untrained models", DefaultValueFactory = _ => "demo" };
        var steps = new Option<int>("--steps") { Description = "Diffusion steps per request", DefaultValueFactory = _ => 16 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per request (EOS ignored)", DefaultValueFactory = _ => 96 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt tokens (≤ 32; BOS added)", DefaultValueFactory = _ => 31 };
        var concurrency = new Option<string>("--concurrency") { Description = "Comma-separated concurrency levels", DefaultValueFactory = _ => "1,4,16" };
        var requests = new Option<int>("--requests") { Description = "Most requests per level", DefaultValueFactory = _ => 64 };
        var seconds = new Option<double>("--seconds") { Description = "Most seconds per level", DefaultValueFactory = _ => 60 };
        var storm = new Option<int>("--storm") { Description = "Clients that stream and disconnect mid-stream after the levels (0 = none)", DefaultValueFactory = _ => 200 };
        var servers = new Option<string>("--servers") { Description = "diffusion, ar or diffusion,ar", DefaultValueFactory = _ => "diffusion,ar" };
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (0 = default)" };
        var outFile = new Option<string?>("--out") { Description = "Also write the Markdown table and summary to this file" };
        var cmd = new Command("serve", "Load benchmark of sdtt serve on loopback: req/s and p50/p95 latency at several concurrency levels, diffusion vs GPT with KV cache, roofline beside each, then a disconnect storm with resident memory before/after")
            { diffusion, gpt, size, steps, maxTokens, promptTokens, concurrency, requests, seconds, storm, servers, threads, outFile };
        cmd.SetGuardedAction(parse =>
        {
            var o = new ServeBenchmarkOptions
            {
                DiffusionDir = parse.GetValue(diffusion), GptDir = parse.GetValue(gpt), Size = parse.GetValue(size)!,
                Steps = parse.GetValue(steps), MaxTokens = parse.GetValue(maxTokens), PromptTokens = parse.GetValue(promptTokens),
                Concurrency = Ints(parse.GetValue(concurrency)!, "--concurrency"), Requests = parse.GetValue(requests), Seconds = parse.GetValue(seconds),
                Storm = parse.GetValue(storm),
                Servers = parse.GetValue(servers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => x.ToLowerInvariant()).ToArray(),
            }.Validate();
            Native.TorchRuntime.EnsureLoaded();
            if (parse.GetValue(threads) is > 0 and var t) TorchSharp.torch.set_num_threads(t);
            var report = ServeBenchmark.RunAsync(o, line => Console.Error.WriteLine("bench: " + line)).GetAwaiter().GetResult();
            var text = $"Workload: {report.Workload}.\n\n{report.Markdown()}\n" + string.Join("\n", report.Summary.Select(x => "- " + x)) + "\n" +
                string.Create(CultureInfo.InvariantCulture, $"\nMachine ceilings used by the roofline: {report.Machine.FlopsPerSecond / 1e9:F1} GFLOP/s, {report.Machine.BytesPerSecond / 1e9:F1} GB/s.\n");
            Console.WriteLine(text);
            if (parse.GetValue(outFile) is { } f) File.WriteAllText(f, text);
            return report.Storms.All(s => s.WithinBound && s.ServingAfter) ? 0 : 3;
        });
        return cmd;
    }

    private static int[] Ints(string s, string option) =>
        s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => int.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new SdttException($"{option}: '{x}' is not an integer")).ToArray();
}
