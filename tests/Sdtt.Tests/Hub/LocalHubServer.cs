using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Sdtt.Tests.Hub;

/// <summary>A Hugging Face–like file server on 127.0.0.1 for tests: <c>/{repo}/resolve/{revision}/{file}</c>; .safetensors files
/// behave like LFS files (HEAD and GET answer 302 to <c>/cdn/{sha256}</c> with X-Linked-Size and X-Linked-Etag), other files are
/// served directly with a git-style (40-hex) ETag. Honours "Range: bytes=N-" unless told not to.</summary>
public sealed class LocalHubServer : IDisposable
{
    private readonly HttpListener _listener;
    private readonly Task _loop;
    private readonly Dictionary<string, byte[]> _files = new();   // "repo/revision/file" → bytes
    private readonly Dictionary<string, byte[]> _blobs = new();   // sha256 → bytes

    public string Endpoint { get; }
    public ConcurrentQueue<(string Method, string Path, string? Range, string? Auth)> Requests { get; } = new();

    public bool HonourRange { get; set; } = true;
    /// <summary>Replaces the X-Linked-Etag of LFS files (e.g. a wrong digest).</summary>
    public string? EtagOverride { get; set; }
    /// <summary>Sends no X-Linked-Etag at all.</summary>
    public bool OmitEtag { get; set; }
    /// <summary>Replaces the X-Linked-Size of LFS files.</summary>
    public long? SizeOverride { get; set; }
    /// <summary>Aborts the next LFS body after this many bytes (once).</summary>
    public long? CutAfter { get; set; }
    /// <summary>Serves these bytes instead of the real LFS content (headers unchanged unless overridden).</summary>
    public byte[]? BodyOverride { get; set; }
    /// <summary>When set, requests without "Authorization: Bearer {token}" get 401.</summary>
    public string? RequiredToken { get; set; }

    public LocalHubServer()
    {
        for (int attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try { listener.Start(); }
            catch (HttpListenerException) when (attempt < 5) { listener.Close(); continue; }
            _listener = listener;
            Endpoint = $"http://127.0.0.1:{port}";
            break;
        }
        _loop = Task.Run(Loop);
    }

    public void Add(string repo, string revision, string file, byte[] bytes)
    {
        lock (_files)
        {
            _files[$"{repo}/{revision}/{file}"] = bytes;
            _blobs[Convert.ToHexStringLower(SHA256.HashData(bytes))] = bytes;
        }
    }

    public int Count(string method, string pathContains) => Requests.Count(r => r.Method == method && r.Path.Contains(pathContains));

    private async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(() =>
            {
                try { Handle(ctx); }
                catch (Exception) { try { ctx.Response.Abort(); } catch (Exception) { } }
            });
        }
    }

    private void Handle(HttpListenerContext ctx)
    {
        var req = ctx.Request;
        var res = ctx.Response;
        var path = Uri.UnescapeDataString(req.Url!.AbsolutePath);
        Requests.Enqueue((req.HttpMethod, path, req.Headers["Range"], req.Headers["Authorization"]));
        if (RequiredToken is not null && req.Headers["Authorization"] != $"Bearer {RequiredToken}") { Status(res, 401); return; }

        if (path.StartsWith("/cdn/"))
        {
            byte[]? blob;
            lock (_files) _blobs.TryGetValue(path[5..], out blob);
            if (blob is null) { Status(res, 404); return; }
            SendBody(req, res, BodyOverride ?? blob, lfs: true);
            return;
        }
        // /{owner}/{name}/resolve/{revision}/{file}
        var parts = path.Trim('/').Split('/');
        if (parts.Length != 5 || parts[2] != "resolve") { Status(res, 404); return; }
        var key = $"{parts[0]}/{parts[1]}/{parts[3]}/{parts[4]}";
        byte[]? bytes;
        lock (_files) _files.TryGetValue(key, out bytes);
        if (bytes is null) { Status(res, 404); return; }
        if (parts[4].EndsWith(".safetensors"))
        {
            var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
            res.StatusCode = 302;
            res.RedirectLocation = $"/cdn/{sha}";
            res.Headers["X-Linked-Size"] = (SizeOverride ?? bytes.LongLength).ToString();
            if (!OmitEtag) res.Headers["X-Linked-Etag"] = $"\"{EtagOverride ?? sha}\"";
            res.Headers["ETag"] = "\"" + Convert.ToHexStringLower(SHA1.HashData(bytes)) + "\"";
            res.ContentLength64 = 0;
            res.Close();
            return;
        }
        res.Headers["ETag"] = "\"" + Convert.ToHexStringLower(SHA1.HashData(bytes)) + "\"";
        SendBody(req, res, bytes, lfs: false);
    }

    private void SendBody(HttpListenerRequest req, HttpListenerResponse res, byte[] bytes, bool lfs)
    {
        long start = 0;
        var range = req.Headers["Range"];
        if (HonourRange && range is not null && range.StartsWith("bytes=") && range.EndsWith("-"))
        {
            start = long.Parse(range[6..^1]);
            if (start >= bytes.Length) { res.Headers["Content-Range"] = $"bytes */{bytes.Length}"; Status(res, 416); return; }
            res.StatusCode = 206;
            res.Headers["Content-Range"] = $"bytes {start}-{bytes.Length - 1}/{bytes.Length}";
        }
        else res.StatusCode = 200;
        res.Headers["Accept-Ranges"] = "bytes";
        res.ContentType = "application/octet-stream";
        long length = bytes.Length - start;
        res.ContentLength64 = length;
        if (req.HttpMethod == "HEAD") { res.Close(); return; }
        long? cut = lfs ? CutAfter : null;
        if (cut is { } c && c < length)
        {
            CutAfter = null;
            res.OutputStream.Write(bytes, (int)start, (int)c);
            res.OutputStream.Flush();
            Thread.Sleep(50);
            res.Abort();
            return;
        }
        res.OutputStream.Write(bytes, (int)start, (int)length);
        res.Close();
    }

    private static void Status(HttpListenerResponse res, int code)
    {
        res.StatusCode = code;
        res.ContentLength64 = 0;
        res.Close();
    }

    public void Dispose()
    {
        try { _listener.Stop(); _listener.Close(); } catch (Exception) { }
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
