using System.Diagnostics;
using Sdtt;
using Sdtt.Hub;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests.Hub;

public sealed class HubClientTests : IDisposable
{
    private const string Repo = "jdeschena/sdtt";
    private const string Rev = "baselines_kld_step_70000";
    private static readonly Lazy<(byte[] Config, byte[] Weights)> TinyFolder = new(MakeTinyFolder);

    private readonly string _root = Directory.CreateTempSubdirectory("sdtt-hub-").FullName;
    private readonly LocalHubServer _server = new();

    public HubClientTests()
    {
        var (config, weights) = TinyFolder.Value;
        _server.Add(Repo, Rev, "config.json", config);
        _server.Add(Repo, Rev, "model.safetensors", weights);
    }

    public void Dispose()
    {
        _server.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static (byte[], byte[]) MakeTinyFolder()
    {
        TorchRuntime.EnsureLoaded();
        var dir = Directory.CreateTempSubdirectory("sdtt-hub-src-").FullName;
        try
        {
            manual_seed(3);
            using var model = new Dit(new DitConfig(HiddenSize: 32, NHeads: 2, NBlocks: 1, CondDim: 16, VocabSize: 64, ModelLength: 16));
            ModelFolder.SaveDit(dir, model);
            return (File.ReadAllBytes(Path.Combine(dir, "config.json")), File.ReadAllBytes(Path.Combine(dir, "model.safetensors")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private HubClient Client(string? token = null) =>
        new(new HubOptions { Endpoint = _server.Endpoint, CacheDir = Path.Combine(_root, "cache"), Token = token, Timeout = TimeSpan.FromSeconds(10) });

    private static readonly HubModel Model = new(Repo, Rev);
    private string Folder => Path.Combine(_root, "cache", "jdeschena", "sdtt", Rev);

    private void AssertNothingLeft()
    {
        Assert.False(File.Exists(Path.Combine(Folder, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(Folder, "model.safetensors.partial")));
    }

    [Fact(Timeout = 30_000)]
    public async Task FullDownloadLoadsWithLoadDitAndIsCached()
    {
        using var client = Client();
        var r = await client.FetchAsync(Model);
        Assert.Equal(Folder, r.Folder);
        Assert.Equal(TinyFolder.Value.Weights, File.ReadAllBytes(Path.Combine(r.Folder, "model.safetensors")));
        Assert.Equal(TinyFolder.Value.Config, File.ReadAllBytes(Path.Combine(r.Folder, "config.json")));
        var w = r.Files.Single(f => f.Name == "model.safetensors");
        Assert.True(w.Downloaded);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(TinyFolder.Value.Weights)), w.Sha256);
        Assert.Null(r.Files.Single(f => f.Name == "config.json").Sha256); // a 40-hex git ETag is not a SHA-256
        Assert.Empty(Directory.GetFiles(r.Folder, "*.partial"));

        using (var model = ModelFolder.LoadDit(r.Folder))
        {
            Assert.Equal(32, model.Config.HiddenSize);
            Assert.Equal(64, model.Config.VocabSize);
        }

        int gets = _server.Count("GET", "/");
        var again = await client.FetchAsync(Model);
        Assert.All(again.Files, f => Assert.False(f.Downloaded));
        Assert.Equal(gets, _server.Count("GET", "/"));
    }

    [Fact(Timeout = 30_000)]
    public async Task ResumesFromAPartialFileWithARangeRequest()
    {
        Directory.CreateDirectory(Folder);
        var weights = TinyFolder.Value.Weights;
        int k = weights.Length / 3;
        File.WriteAllBytes(Path.Combine(Folder, "model.safetensors.partial"), weights[..k]);
        using var client = Client();
        var r = await client.FetchAsync(Model);
        Assert.Equal(k, r.Files.Single(f => f.Name == "model.safetensors").ResumedFrom);
        Assert.Contains(_server.Requests, q => q.Method == "GET" && q.Path.StartsWith("/cdn/") && q.Range == $"bytes={k}-");
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(Folder, "model.safetensors")));
    }

    [Fact(Timeout = 30_000)]
    public async Task InterruptedDownloadKeepsThePartialAndTheNextRunResumes()
    {
        var weights = TinyFolder.Value.Weights;
        _server.CutAfter = weights.Length / 2;
        using var client = Client();
        var e = await Assert.ThrowsAsync<SdttException>(() => client.FetchAsync(Model));
        Assert.Contains("interrupted", e.Message);
        Assert.Contains($"{_server.Endpoint}/{Repo}/resolve/{Rev}/model.safetensors", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var partial = Path.Combine(Folder, "model.safetensors.partial");
        long kept = new FileInfo(partial).Length;
        Assert.InRange(kept, 1, weights.Length - 1);
        Assert.False(File.Exists(Path.Combine(Folder, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(Folder, "config.json"))); // nothing is moved into place before both files are verified

        var r = await client.FetchAsync(Model);
        Assert.Equal(kept, r.Files.Single(f => f.Name == "model.safetensors").ResumedFrom);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(Folder, "model.safetensors")));
        using var model = ModelFolder.LoadDit(r.Folder);
    }

    [Fact(Timeout = 30_000)]
    public async Task ServerIgnoringRangeRestartsFromZero()
    {
        Directory.CreateDirectory(Folder);
        File.WriteAllBytes(Path.Combine(Folder, "model.safetensors.partial"), new byte[] { 1, 2, 3, 4, 5 });
        _server.HonourRange = false;
        using var client = Client();
        var r = await client.FetchAsync(Model);
        Assert.Equal(0, r.Files.Single(f => f.Name == "model.safetensors").ResumedFrom);
        Assert.Equal(TinyFolder.Value.Weights, File.ReadAllBytes(Path.Combine(Folder, "model.safetensors")));
    }

    [Fact(Timeout = 30_000)]
    public async Task WrongSha256IsDetectedAndNothingIsLeft()
    {
        _server.EtagOverride = new string('a', 64);
        using var client = Client();
        var e = await Assert.ThrowsAsync<SdttException>(() => client.FetchAsync(Model));
        Assert.Contains("SHA-256 mismatch", e.Message);
        Assert.Contains("/model.safetensors", e.Message);
        AssertNothingLeft();
    }

    [Fact(Timeout = 30_000)]
    public async Task WrongSizeIsDetectedAndNothingIsLeft()
    {
        _server.SizeOverride = TinyFolder.Value.Weights.Length + 10;
        using var client = Client();
        var e = await Assert.ThrowsAsync<SdttException>(() => client.FetchAsync(Model));
        Assert.Contains("size mismatch", e.Message);
        AssertNothingLeft();
    }

    [Fact(Timeout = 30_000)]
    public async Task CorruptSafetensorsWithoutDigestFailsTheHeaderCheck()
    {
        var garbage = TinyFolder.Value.Weights.ToArray();
        for (int i = 0; i < 16; i++) garbage[i] = 0xFF; // header length and JSON destroyed, size unchanged
        _server.BodyOverride = garbage;
        _server.OmitEtag = true;
        using var client = Client();
        var e = await Assert.ThrowsAsync<SdttException>(() => client.FetchAsync(Model));
        Assert.Contains("not a valid safetensors file", e.Message);
        AssertNothingLeft();
    }

    [Fact(Timeout = 30_000)]
    public async Task MissingRevisionGives404NamingTheUrl()
    {
        using var client = Client();
        var e = await Assert.ThrowsAsync<SdttException>(() => client.FetchAsync(new HubModel(Repo, "baselines_mse_step_10000")));
        Assert.Equal($"{_server.Endpoint}/{Repo}/resolve/baselines_mse_step_10000/config.json: HTTP 404 Not Found; check the name and revision (`sdtt download --list`) and --endpoint", e.Message);
    }

    [Fact(Timeout = 30_000)]
    public async Task TokenIsSentAsBearerAndItsAbsenceGives401()
    {
        _server.RequiredToken = "hf_secret";
        using (var anonymous = Client())
        {
            var e = await Assert.ThrowsAsync<SdttException>(() => anonymous.FetchAsync(Model));
            Assert.Contains("HTTP 401", e.Message);
            Assert.Contains("HF_TOKEN", e.Message);
        }
        using var client = Client("hf_secret");
        var r = await client.FetchAsync(Model);
        Assert.True(File.Exists(Path.Combine(r.Folder, "model.safetensors")));
        Assert.Contains(_server.Requests, q => q.Auth == "Bearer hf_secret");
    }

    [Fact(Timeout = 30_000)]
    public async Task UnreachableServerGivesOneLineNetworkError()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var client = new HubClient(new HubOptions { Endpoint = $"http://127.0.0.1:{port}", CacheDir = Path.Combine(_root, "c2"), Timeout = TimeSpan.FromSeconds(5) });
        var e = await Assert.ThrowsAsync<SdttException>(() => client.FetchAsync(Model));
        Assert.StartsWith($"http://127.0.0.1:{port}/{Repo}/resolve/{Rev}/config.json: network failure", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact(Timeout = 60_000)]
    public async Task CommandLineDownloadsByAliasAndPrintsTheFolder()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "Sdtt.Cli.dll");
        var psi = new ProcessStartInfo("dotnet");
        foreach (var a in new[] { cli, "download", "student", "--loss", "kld", "--round", "7", "--endpoint", _server.Endpoint, "--cache", Path.Combine(_root, "cli") })
            psi.ArgumentList.Add(a);
        psi.Environment["CI"] = "1";
        psi.Environment.Remove("HF_TOKEN");
        // The fake hub answers on this test's thread pool, so the child runs on another thread with its time limit.
        var (code, stdout, stderr) = await Task.Run(() => ChildProcess.Run(psi, TimeSpan.FromSeconds(55)));
        Assert.True(code == 0, stderr);
        var folder = Path.Combine(_root, "cli", "jdeschena", "sdtt", Rev);
        Assert.Equal(folder, stdout.Trim());
        Assert.Equal(TinyFolder.Value.Weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
    }
}
