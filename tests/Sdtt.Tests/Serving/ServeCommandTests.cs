using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Sdtt.Server;

namespace Sdtt.Tests.Serving;

/// <summary>The thin CLI commands: <c>sdtt serve</c> as a process (start, answer, bad input) and
/// <c>sdtt bench serve</c>'s library on a tiny workload (timings are not checked, only that every part runs).</summary>
public class ServeCommandTests : IClassFixture<ServingModels>
{
    private readonly ServingModels _models;
    public ServeCommandTests(ServingModels models) => _models = models;

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sdtt.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [Fact]
    public async Task ServeStartsOnAFreePortAndAnswers()
    {
        using var p = Start("serve", "--model", _models.GptDir, "--port", "0", "--model-id", "g");
        try
        {
            var ready = p.StandardError.ReadLineAsync();
            Assert.True(ready.Wait(TimeSpan.FromSeconds(60)), "the server did not start in 60 s");
            var m = Regex.Match(ready.Result ?? "", @"on (http://\S+)");
            Assert.True(m.Success, ready.Result);
            using var http = new HttpClient { BaseAddress = new Uri(m.Groups[1].Value), Timeout = TimeSpan.FromSeconds(30) };
            using var health = await http.GetAsync("health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            using var content = new StringContent("""{"model":"g","prompt":"Hello","max_tokens":5}""", System.Text.Encoding.UTF8, "application/json");
            using var r = await http.PostAsync("v1/completions", content);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
    }

    [Theory]
    [InlineData("--model", "/nonexistent/model", "does not exist")]
    [InlineData("--port", "70000", "--port")]
    [InlineData("--max-batch", "0", "max-batch")]
    public void BadServeOptionsGetOneErrorLine(string option, string value, string expected)
    {
        var args = new List<string> { "serve", "--model", _models.DitDir, "--port", "0" };
        int i = args.IndexOf(option);
        if (i >= 0) args[i + 1] = value; else args.AddRange(new[] { option, value });
        using var p = Start(args.ToArray());
        var err = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000));
        Assert.Equal(1, p.ExitCode);
        var lines = err.Result.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error:", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public async Task LoadBenchmarkRunsOnATinyWorkload()
    {
        var report = await ServeBenchmark.RunAsync(new ServeBenchmarkOptions
        {
            DiffusionDir = _models.DitDir, GptDir = _models.GptDir, Steps = 4, MaxTokens = 8, PromptTokens = 6,
            Concurrency = new[] { 1, 3 }, Requests = 6, Seconds = 30, Storm = 12,
        });
        Assert.Equal(4, report.Rows.Count);
        Assert.All(report.Rows, r => Assert.True(r.Requests == 6 && r.Failed == 0 && r.RequestsPerSecond > 0 && r.P95Seconds >= r.P50Seconds && r.RooflineRequestsPerSecond > 0, r.ToString()));
        Assert.Equal(2, report.Storms.Count);
        Assert.All(report.Storms, s => Assert.True(s.ServingAfter && s.Streamed + s.Refused == 12, s.ToString()));
        var md = report.Markdown();
        Assert.Contains("| diffusion (4 steps) | 3 | 6 |", md);
        Assert.Contains("| AR + KV cache | 1 | 6 |", md);
        Assert.Contains(report.Summary, l => l.StartsWith("concurrency 1: AR p50 / diffusion p50"));
    }
}
