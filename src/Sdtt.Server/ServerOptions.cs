using Sdtt.Serving;

namespace Sdtt.Server;

/// <summary>Settings of <c>sdtt serve</c>.</summary>
public sealed record ServerOptions
{
    /// <summary>The model folder (DiT or GPT).</summary>
    public required string ModelDir { get; init; }
    /// <summary>Address to listen on ("127.0.0.1", "0.0.0.0", "localhost", an IPv6 address).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Port (0 = any free port; see <see cref="SdttServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Engine settings (batch size, queue, default steps, device, model id).</summary>
    public CompletionEngineOptions Engine { get; init; } = new();
    /// <summary>Log ASP.NET Core's warnings and errors to the console.</summary>
    public bool ConsoleLog { get; init; }

    /// <summary>Throws <see cref="SdttException"/> for an invalid setting.</summary>
    public ServerOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDir)) throw new SdttException("--model is required");
        if (!Directory.Exists(ModelDir)) throw new SdttException($"model folder '{ModelDir}' does not exist");
        if (Port < 0 || Port > 65535) throw new SdttException($"--port must be in [0, 65535] (got {Port})");
        if (string.IsNullOrWhiteSpace(Host)) throw new SdttException("--host must not be empty");
        if (Host != "localhost" && !System.Net.IPAddress.TryParse(Host, out _)) throw new SdttException($"--host '{Host}' is not an IP address or 'localhost'");
        Engine.Validate();
        return this;
    }
}
