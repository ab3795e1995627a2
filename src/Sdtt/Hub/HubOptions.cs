namespace Sdtt.Hub;

/// <summary>Where and how <see cref="HubClient"/> downloads. <see cref="FromEnvironment"/> fills the defaults from
/// <c>HF_ENDPOINT</c>, <c>SDTT_CACHE</c> and <c>HF_TOKEN</c>.</summary>
public sealed record HubOptions
{
    /// <summary>The public Hugging Face hub.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Base URL; files are fetched from <c>{Endpoint}/{repo}/resolve/{revision}/{file}</c> (mirrors work).</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;
    /// <summary>Cache root; a model lands in <c>{CacheDir}/{owner}/{name}/{revision}</c>.</summary>
    public string CacheDir { get; init; } = DefaultCacheDir();
    /// <summary>Bearer token for gated or private repositories, or null.</summary>
    public string? Token { get; init; }
    /// <summary>Download again even when the files are cached (drops partial files too).</summary>
    public bool Force { get; init; }
    /// <summary>Longest wait for a connection, response headers or the next bytes of a body before failing.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Defaults with <c>HF_ENDPOINT</c>, <c>SDTT_CACHE</c> and <c>HF_TOKEN</c> applied; explicit arguments win.</summary>
    public static HubOptions FromEnvironment(string? endpoint = null, string? cacheDir = null, bool force = false) => new()
    {
        Endpoint = NonEmpty(endpoint) ?? NonEmpty(Environment.GetEnvironmentVariable("HF_ENDPOINT")) ?? DefaultEndpoint,
        CacheDir = NonEmpty(cacheDir) ?? DefaultCacheDir(),
        Token = NonEmpty(Environment.GetEnvironmentVariable("HF_TOKEN")),
        Force = force,
    };

    /// <summary><c>$SDTT_CACHE</c>, else <c>~/.cache/sdtt/hub</c>.</summary>
    public static string DefaultCacheDir() =>
        NonEmpty(Environment.GetEnvironmentVariable("SDTT_CACHE"))
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sdtt", "hub");

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
