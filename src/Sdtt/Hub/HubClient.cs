using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sdtt.IO;

namespace Sdtt.Hub;

/// <summary>Progress of one file's download.</summary>
/// <param name="File">File name (config.json or model.safetensors).</param>
/// <param name="BytesDone">Bytes on disk so far (a resumed prefix included).</param>
/// <param name="BytesTotal">Expected size when the server announced it.</param>
/// <param name="Elapsed">Time spent on this file.</param>
/// <param name="BytesPerSecond">Transfer rate of this run (resumed bytes not counted).</param>
public sealed record HubProgress(string File, long BytesDone, long? BytesTotal, TimeSpan Elapsed, double BytesPerSecond)
{
    /// <summary>Estimated time left, when the size and a rate are known.</summary>
    public TimeSpan? Eta => BytesTotal is { } t && BytesPerSecond > 0 ? TimeSpan.FromSeconds(Math.Max(0, t - BytesDone) / BytesPerSecond) : null;
}

/// <summary>One file of a downloaded model.</summary>
/// <param name="Name">File name.</param>
/// <param name="Path">Local path.</param>
/// <param name="Bytes">Size.</param>
/// <param name="Sha256">SHA-256 checked against the server's ETag, or null when the server gave none.</param>
/// <param name="Downloaded">False when the cached file was used.</param>
/// <param name="ResumedFrom">Bytes of an earlier partial download that were kept (0 when none).</param>
public sealed record HubFileResult(string Name, string Path, long Bytes, string? Sha256, bool Downloaded, long ResumedFrom);

/// <summary>Result of <see cref="HubClient.Fetch"/>.</summary>
/// <param name="Model">The repository and revision.</param>
/// <param name="Folder">Local model folder (config.json + model.safetensors), loadable with <see cref="ModelFolder.LoadDit"/>.</param>
/// <param name="Files">The two files.</param>
public sealed record HubDownloadResult(HubModel Model, string Folder, IReadOnlyList<HubFileResult> Files);

/// <summary>Downloads <c>config.json</c> and <c>model.safetensors</c> of a hub revision into a local cache, using the Hugging Face
/// URL layout <c>{endpoint}/{repo}/resolve/{revision}/{file}</c>. Downloads are resumable (<c>FILE.partial</c> continued with an
/// HTTP Range request), verified (size from X-Linked-Size / Content-Length / Content-Range; SHA-256 when the X-Linked-Etag or
/// ETag is a 64-hex digest; the safetensors header is always validated) and moved into place by rename only once verified.
/// Every failure is an <see cref="SdttException"/> with one line naming the URL.</summary>
public sealed class HubClient : IDisposable
{
    /// <summary>The files fetched for a model, in download order.</summary>
    public static readonly IReadOnlyList<string> Files = [ModelFolder.ConfigFile, ModelFolder.WeightsFile];
    /// <summary>Suffix of an incomplete download.</summary>
    public const string PartialSuffix = ".partial";

    private static readonly Regex ContentRange = new(@"^bytes (\d+)-(\d+)/(\d+|\*)$", RegexOptions.CultureInvariant);
    private readonly HttpClient _http;

    /// <summary>The endpoint, cache and token used.</summary>
    public HubOptions Options { get; }

    /// <summary>Creates a client; <paramref name="options"/> defaults to <see cref="HubOptions.FromEnvironment"/>.</summary>
    public HubClient(HubOptions? options = null)
    {
        Options = options ?? HubOptions.FromEnvironment();
        if (!Uri.TryCreate(Options.Endpoint.TrimEnd('/'), UriKind.Absolute, out var ep) || (ep.Scheme != "http" && ep.Scheme != "https"))
            throw new SdttException($"invalid endpoint '{Options.Endpoint}' (expected an http:// or https:// URL)");
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // followed by hand, so the token never leaves the endpoint's host
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = Options.Timeout,
        };
        _http = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("sdtt", "1.0"));
    }

    /// <summary>Resolves <paramref name="name"/> with <see cref="HubCatalog.Resolve"/> and downloads it with options from the
    /// environment (or <paramref name="options"/>); returns the local model folder.</summary>
    public static string Download(string name, string? revision = null, HubOptions? options = null, IProgress<HubProgress>? progress = null,
        CancellationToken cancel = default)
    {
        using var client = new HubClient(options);
        return client.Download(HubCatalog.Resolve(name, revision), progress, cancel);
    }

    /// <summary>Downloads (or finds in the cache) a model and returns its local folder.</summary>
    public string Download(HubModel model, IProgress<HubProgress>? progress = null, CancellationToken cancel = default) =>
        Fetch(model, progress, cancel).Folder;

    /// <summary>Downloads (or finds in the cache) a model; the result says what was fetched, resumed and verified.</summary>
    public HubDownloadResult Fetch(HubModel model, IProgress<HubProgress>? progress = null, CancellationToken cancel = default) =>
        FetchAsync(model, progress, cancel).GetAwaiter().GetResult();

    /// <summary>The cache folder of a model: <c>{CacheDir}/{owner}/{name}/{revision}</c>.</summary>
    public string FolderOf(HubModel model)
    {
        var parts = model.Repo.Split('/');
        if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p == "." || p == "..")) throw new SdttException($"invalid repository '{model.Repo}' (expected OWNER/NAME)");
        if (!HubCatalog.IsSafeRevision(model.Revision)) throw new SdttException($"invalid revision '{model.Revision}'");
        return Path.Combine(Options.CacheDir, parts[0], parts[1], model.Revision.Replace('/', '~'));
    }

    /// <summary>The URL of a file of a model.</summary>
    public Uri UrlOf(HubModel model, string file) =>
        new($"{Options.Endpoint.TrimEnd('/')}/{model.Repo}/resolve/{Uri.EscapeDataString(model.Revision)}/{file}");

    /// <summary>Asynchronous <see cref="Fetch"/>.</summary>
    public async Task<HubDownloadResult> FetchAsync(HubModel model, IProgress<HubProgress>? progress = null, CancellationToken cancel = default)
    {
        var folder = FolderOf(model);
        try { Directory.CreateDirectory(folder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SdttException($"{folder}: cannot create the cache folder ({e.Message})"); }
        try { return await FetchIntoAsync(model, folder, progress, cancel).ConfigureAwait(false); }
        catch
        {
            // Keep partial files for resuming, but do not leave an empty folder behind.
            try { if (!Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder); } catch (IOException) { }
            throw;
        }
    }

    private async Task<HubDownloadResult> FetchIntoAsync(HubModel model, string folder, IProgress<HubProgress>? progress, CancellationToken cancel)
    {
        var results = new List<HubFileResult>();
        var ready = new List<(string Partial, string Final)>();
        foreach (var file in Files)
        {
            var final = Path.Combine(folder, file);
            var partial = final + PartialSuffix;
            if (Options.Force) { Delete(final); Delete(partial); }
            if (File.Exists(final))
            {
                if (ValidateContent(final, file) is null)
                {
                    results.Add(new HubFileResult(file, final, new FileInfo(final).Length, null, Downloaded: false, ResumedFrom: 0));
                    continue;
                }
                Delete(final); // a damaged cached copy is fetched again
            }
            var (bytes, sha, resumed) = await FetchFileAsync(UrlOf(model, file), file, partial, progress, cancel).ConfigureAwait(false);
            results.Add(new HubFileResult(file, final, bytes, sha, Downloaded: true, ResumedFrom: resumed));
            ready.Add((partial, final));
        }
        // Both files verified: move them into place, weights first, so a folder with config.json is complete.
        foreach (var (partial, final) in ready.OrderBy(r => r.Final.EndsWith(ModelFolder.ConfigFile) ? 1 : 0))
            File.Move(partial, final, overwrite: true);
        return new HubDownloadResult(model, folder, results);
    }

    private sealed record Meta(long? Size, string? Sha256);

    private async Task<(long Bytes, string? Sha, long Resumed)> FetchFileAsync(Uri url, string file, string partial,
        IProgress<HubProgress>? progress, CancellationToken cancel)
    {
        var meta = await HeadAsync(url, cancel).ConfigureAwait(false);
        long? expected = meta.Size;
        long resumedFrom = 0;
        for (int attempt = 0; ; attempt++)
        {
            long offset = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            if (expected is { } e0 && offset > e0) { Delete(partial); offset = 0; }
            if (expected is { } e1 && offset == e1 && offset > 0) { resumedFrom = offset; break; }

            using var response = await SendAsync(HttpMethod.Get, url, offset > 0 ? offset : null, cancel).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status == 416 && offset > 0)
            {
                // The server has nothing past our partial file: complete if the size agrees (or is unknown), else start over.
                if (expected is null || expected == offset) { resumedFrom = offset; break; }
                Delete(partial);
                if (attempt > 0) throw new SdttException($"{url}: server refused the byte range of a fresh download (HTTP 416)");
                continue;
            }
            if (status != 200 && status != 206) throw HttpError(url, response.StatusCode);

            bool append = false;
            if (status == 206)
            {
                var cr = response.Content.Headers.TryGetValues("Content-Range", out var v) ? v.FirstOrDefault() : null;
                var m = cr is null ? null : ContentRange.Match(cr.Trim());
                if (m is null || !m.Success || long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) != offset)
                {
                    Delete(partial);
                    if (attempt > 0) throw new SdttException($"{url}: server answered a range request with an unexpected Content-Range '{cr}'");
                    continue;
                }
                if (m.Groups[3].Value != "*")
                {
                    long total = long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
                    if (expected is { } ex && ex != total) throw SizeMismatch(url, partial, total, ex, "announced");
                    expected ??= total;
                }
                append = true;
                resumedFrom = offset;
            }
            else
            {
                long? len = response.Content.Headers.ContentLength;
                if (len is { } l && expected is { } ex && l != ex) throw SizeMismatch(url, partial, l, ex, "announced");
                expected ??= len;
                offset = 0;
                resumedFrom = 0;
            }
            await CopyBodyAsync(url, file, response, partial, append, offset, expected, progress, cancel).ConfigureAwait(false);
            break;
        }

        long size = new FileInfo(partial).Length;
        if (expected is { } want && size != want) throw SizeMismatch(url, partial, size, want, "received");
        if (meta.Sha256 is { } sha)
        {
            string got;
            using (var fs = new FileStream(partial, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
                got = Convert.ToHexStringLower(await SHA256.HashDataAsync(fs, cancel).ConfigureAwait(false));
            if (got != sha)
            {
                Delete(partial);
                throw new SdttException($"{url}: SHA-256 mismatch (got {got}, expected {sha}); the download was removed, run again");
            }
        }
        if (ValidateContent(partial, file) is { } problem)
        {
            Delete(partial);
            throw new SdttException($"{url}: {problem}; the download was removed");
        }
        return (size, meta.Sha256, resumedFrom);
    }

    private async Task<Meta> HeadAsync(Uri url, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Head, url, null, cancel, followRedirects: false).ConfigureAwait(false);
        int status = (int)response.StatusCode;
        if (status is 405 or 501) return new Meta(null, null); // no HEAD support: rely on the GET's headers
        bool redirect = status is >= 300 and < 400;
        if (!response.IsSuccessStatusCode && !redirect) throw HttpError(url, response.StatusCode);
        long? size = Header(response, "X-Linked-Size") is { } ls && long.TryParse(ls, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : redirect ? null : response.Content.Headers.ContentLength;
        var etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag");
        return new Meta(size, Sha256FromEtag(etag));
    }

    /// <summary>The SHA-256 an ETag stands for, when it is a 64-hex digest (hub LFS files); otherwise null.</summary>
    public static string? Sha256FromEtag(string? etag)
    {
        if (etag is null) return null;
        var t = etag.Trim();
        if (t.StartsWith("W/", StringComparison.Ordinal)) t = t[2..];
        t = t.Trim('"');
        return t.Length == 64 && t.All(Uri.IsHexDigit) ? t.ToLowerInvariant() : null;
    }

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault()
        : r.Content.Headers.TryGetValues(name, out var c) ? c.FirstOrDefault() : null;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, long? rangeFrom, CancellationToken cancel, bool followRedirects = true)
    {
        var target = url;
        for (int hop = 0; ; hop++)
        {
            var request = new HttpRequestMessage(method, target);
            if (rangeFrom is { } from) request.Headers.Range = new RangeHeaderValue(from, null);
            if (Options.Token is { } token && string.Equals(target.Host, url.Host, StringComparison.OrdinalIgnoreCase) && target.Port == url.Port)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            HttpResponseMessage response;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(Options.Timeout);
            try { response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                throw new SdttException($"{url}: no response within {Options.Timeout.TotalSeconds:0} s");
            }
            catch (HttpRequestException e)
            {
                throw new SdttException($"{url}: network failure ({OneLine(e)})");
            }
            finally { request.Dispose(); }
            int status = (int)response.StatusCode;
            if (!followRedirects || status is < 300 or >= 400 || response.Headers.Location is null) return response;
            if (hop >= 10) { response.Dispose(); throw new SdttException($"{url}: too many redirects"); }
            var next = response.Headers.Location.IsAbsoluteUri ? response.Headers.Location : new Uri(target, response.Headers.Location);
            response.Dispose();
            target = next;
        }
    }

    private async Task CopyBodyAsync(Uri url, string file, HttpResponseMessage response, string partial, bool append, long offset,
        long? expected, IProgress<HubProgress>? progress, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        long done = offset, session = 0;
        var lastReport = TimeSpan.Zero;
        var buffer = new byte[1 << 20];
        using var output = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        try
        {
            using var body = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
            while (true)
            {
                int n;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel))
                {
                    timeout.CancelAfter(Options.Timeout);
                    try { n = await body.ReadAsync(buffer, timeout.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                    {
                        throw new SdttException($"{url}: no data for {Options.Timeout.TotalSeconds:0} s after {done / 1e6:0.0} MB; run again to resume");
                    }
                }
                if (n == 0) break;
                await output.WriteAsync(buffer.AsMemory(0, n), cancel).ConfigureAwait(false);
                done += n;
                session += n;
                if (progress is not null && (sw.Elapsed - lastReport).TotalMilliseconds >= 100)
                {
                    lastReport = sw.Elapsed;
                    progress.Report(new HubProgress(file, done, expected, sw.Elapsed, session / Math.Max(sw.Elapsed.TotalSeconds, 1e-9)));
                }
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new SdttException($"{url}: download interrupted after {done / 1e6:0.0} MB ({OneLine(e)}); run again to resume from {partial}");
        }
        progress?.Report(new HubProgress(file, done, expected, sw.Elapsed, session / Math.Max(sw.Elapsed.TotalSeconds, 1e-9)));
    }

    /// <summary>Null when the file's content is usable, else the problem.</summary>
    private static string? ValidateContent(string path, string file)
    {
        try
        {
            if (file.EndsWith(".safetensors", StringComparison.Ordinal))
            {
                using var st = new SafeTensorsFile(path);
                return st.Entries.Count == 0 ? "the safetensors file holds no tensors" : null;
            }
            if (file.EndsWith(".json", StringComparison.Ordinal))
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
                return doc.RootElement.ValueKind == JsonValueKind.Object ? null : "config.json is not a JSON object";
            }
            return null;
        }
        catch (SdttException e) { return $"not a valid safetensors file ({e.Message})"; }
        catch (JsonException e) { return $"not valid JSON ({OneLine(e)})"; }
    }

    private static SdttException SizeMismatch(Uri url, string partial, long got, long want, string what)
    {
        Delete(partial);
        return new SdttException($"{url}: size mismatch ({what} {got:N0} bytes, expected {want:N0}); the download was removed, run again");
    }

    private static SdttException HttpError(Uri url, HttpStatusCode code)
    {
        int c = (int)code;
        var hint = c switch
        {
            401 or 403 => "; set HF_TOKEN if the repository is gated or private",
            404 => "; check the name and revision (`sdtt download --list`) and --endpoint",
            _ => "",
        };
        return new SdttException($"{url}: HTTP {c} {ReasonOf(code)}{hint}");
    }

    private static string ReasonOf(HttpStatusCode code) => code switch
    {
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.Unauthorized => "Unauthorized",
        HttpStatusCode.Forbidden => "Forbidden",
        _ => code.ToString(),
    };

    private static string OneLine(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        var msg = inner == e || e.Message.Contains(inner.Message) ? e.Message : $"{e.Message.TrimEnd('.')}: {inner.Message}";
        return msg.Split('\n')[0].Trim();
    }

    private static void Delete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Releases the HTTP connection pool.</summary>
    public void Dispose() => _http.Dispose();
}
