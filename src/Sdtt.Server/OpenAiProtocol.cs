using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Serving;

namespace Sdtt.Server;

/// <summary>An OpenAI-style request error: HTTP status, message, type and the field at fault.</summary>
public sealed class ApiError(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null) : Exception(message)
{
    /// <summary>HTTP status code.</summary>
    public int Status { get; } = status;
    /// <summary>OpenAI error type.</summary>
    public string Type { get; } = type;
    /// <summary>The request field at fault.</summary>
    public string? Param { get; } = param;
    /// <summary>OpenAI error code.</summary>
    public string? Code { get; } = code;

    /// <summary>{"error": {"message", "type", "param", "code"}}.</summary>
    public JsonObject ToJson() => OpenAiProtocol.Error(Message, Type, Param, Code);
}

/// <summary>A parsed completion or chat request: the engine request and the stream flags.</summary>
/// <param name="Request">What the engine samples.</param>
/// <param name="Stream">Server-sent events instead of one JSON body.</param>
/// <param name="IncludeUsage">stream_options.include_usage: a last chunk with the token counts.</param>
public sealed record ApiRequest(CompletionRequest Request, bool Stream, bool IncludeUsage);

/// <summary>Parsing of OpenAI request bodies (with one precise 400 per fault) and the JSON of responses and chunks.</summary>
public static class OpenAiProtocol
{
    /// <summary>OpenAI's temperature 0 means greedy; the samplers need T &gt; 0, so 0 becomes this (argmax in practice).</summary>
    public const double GreedyTemperature = 1e-5;

    /// <summary>An error body.</summary>
    public static JsonObject Error(string message, string type, string? param = null, string? code = null) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    };

    /// <summary>Reads the body as a JSON object (400 if it is not one).</summary>
    public static async Task<JsonObject> ReadObjectAsync(Stream body, CancellationToken ct)
    {
        JsonNode? node;
        try
        {
            node = await JsonNode.ParseAsync(body, cancellationToken: ct);
        }
        catch (JsonException e)
        {
            throw new ApiError(400, $"the request body is not valid JSON: {e.Message.Split('\n')[0]}");
        }
        return node as JsonObject ?? throw new ApiError(400, "the request body must be a JSON object");
    }

    /// <summary>/v1/completions: model, prompt (a string or an array of one string), max_tokens, temperature, top_p, seed,
    /// stop, stream, n (1 only), and the extensions steps (diffusion steps) and ignore_eos (vLLM's: EOS is an ordinary token).</summary>
    public static ApiRequest ParseCompletion(JsonObject o, string modelId, int defaultMaxTokens = 16)
    {
        CheckModel(o, modelId);
        var promptNode = o["prompt"] ?? throw new ApiError(400, "'prompt' is required", param: "prompt");
        string prompt = promptNode switch
        {
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonArray { Count: 1 } a when a[0] is JsonValue v1 && v1.TryGetValue<string>(out var s1) => s1,
            _ => throw new ApiError(400, "'prompt' must be a string (or an array of one string)", param: "prompt"),
        };
        return Common(o, prompt, Int(o, "max_tokens") ?? defaultMaxTokens, extraStops: null);
    }

    /// <summary>/v1/chat/completions: model, messages [{role, content}] (content a string or text parts), max_tokens or
    /// max_completion_tokens, and the settings of <see cref="ParseCompletion"/>. The conversation becomes a prompt by
    /// <see cref="ChatPromptFormat"/>.</summary>
    public static ApiRequest ParseChat(JsonObject o, string modelId, int defaultMaxTokens = 64)
    {
        CheckModel(o, modelId);
        if (o["messages"] is not JsonArray messages) throw new ApiError(400, "'messages' is required and must be an array", param: "messages");
        if (messages.Count == 0) throw new ApiError(400, "'messages' must not be empty", param: "messages");
        var turns = new List<(string, string)>();
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject m) throw new ApiError(400, $"messages[{i}] must be an object", param: $"messages[{i}]");
            var role = Str(m, "role", $"messages[{i}].role") ?? throw new ApiError(400, $"messages[{i}].role is required", param: $"messages[{i}].role");
            turns.Add((role, Content(m["content"], i)));
        }
        int max = Int(o, "max_completion_tokens") ?? Int(o, "max_tokens") ?? defaultMaxTokens;
        return Common(o, ChatPromptFormat.Format(turns), max, ChatPromptFormat.StopSequences);
    }

    private static string Content(JsonNode? c, int i) => c switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonArray parts => string.Concat(parts.Select(p => p is JsonObject po && (string?)po["type"] == "text" && po["text"] is JsonValue tv && tv.TryGetValue<string>(out var t)
            ? t : throw new ApiError(400, $"messages[{i}].content: only text parts are supported", param: $"messages[{i}].content"))),
        _ => throw new ApiError(400, $"messages[{i}].content must be a string or an array of text parts", param: $"messages[{i}].content"),
    };

    private static void CheckModel(JsonObject o, string modelId)
    {
        var model = Str(o, "model", "model") ?? throw new ApiError(400, "'model' is required", param: "model");
        if (model != modelId) throw new ApiError(400, $"unknown model '{model}'; this server serves '{modelId}'", param: "model", code: "model_not_found");
    }

    private static ApiRequest Common(JsonObject o, string prompt, int maxTokens, IReadOnlyList<string>? extraStops)
    {
        if (Int(o, "n") is { } n && n != 1) throw new ApiError(400, $"only n = 1 is supported (got {n})", param: "n");
        double temperature = Num(o, "temperature") ?? 1.0;
        if (temperature < 0 || temperature > 100) throw new ApiError(400, $"temperature must be in [0, 100] (got {temperature})", param: "temperature");
        var stops = Stops(o["stop"]);
        if (stops.Count > 4) throw new ApiError(400, $"at most 4 stop sequences are allowed (got {stops.Count})", param: "stop");
        bool stream = Bool(o, "stream") ?? false;
        bool usage = o["stream_options"] is JsonObject so && so["include_usage"] is JsonValue iu && iu.TryGetValue<bool>(out var b) && b;
        var request = new CompletionRequest
        {
            Prompt = prompt,
            MaxTokens = maxTokens,
            Temperature = temperature == 0 ? GreedyTemperature : temperature,
            TopP = Num(o, "top_p") ?? 1.0,
            Seed = Long(o, "seed"),
            Steps = Int(o, "steps"),
            IgnoreEos = Bool(o, "ignore_eos") ?? false,
            Stop = extraStops is null ? stops : stops.Concat(extraStops).Distinct().ToArray(),
        };
        return new ApiRequest(request, stream, usage);
    }

    private static List<string> Stops(JsonNode? s) => s switch
    {
        null => new List<string>(),
        JsonValue v when v.TryGetValue<string>(out var one) => new List<string> { one },
        JsonArray a => a.Select(x => x is JsonValue xv && xv.TryGetValue<string>(out var t) ? t : throw new ApiError(400, "'stop' must be a string or an array of strings", param: "stop")).ToList(),
        _ => throw new ApiError(400, "'stop' must be a string or an array of strings", param: "stop"),
    };

    private static string? Str(JsonObject o, string name, string param) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new ApiError(400, $"'{name}' must be a string", param: param),
    };

    private static double? Num(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.GetValue<double>(),
        _ => throw new ApiError(400, $"'{name}' must be a number", param: name),
    };

    private static long? Long(JsonObject o, string name)
    {
        var d = Num(o, name);
        if (d is null) return null;
        if (d != Math.Floor(d.Value) || Math.Abs(d.Value) > 9.0e15) throw new ApiError(400, $"'{name}' must be an integer", param: name);
        return (long)d.Value;
    }

    private static int? Int(JsonObject o, string name)
    {
        var l = Long(o, name);
        if (l is null) return null;
        if (l < int.MinValue || l > int.MaxValue) throw new ApiError(400, $"'{name}' is out of range (got {l})", param: name);
        return (int)l;
    }

    private static bool? Bool(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        _ => throw new ApiError(400, $"'{name}' must be true or false", param: name),
    };

    /// <summary>The usage object.</summary>
    public static JsonObject Usage(int prompt, int completion) => new()
    {
        ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion,
    };

    /// <summary>A text_completion body or chunk.</summary>
    public static JsonObject CompletionJson(string id, long created, string model, string text, string? finish, JsonObject? usage) => new()
    {
        ["id"] = id, ["object"] = "text_completion", ["created"] = created, ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject { ["text"] = text, ["index"] = 0, ["logprobs"] = null, ["finish_reason"] = finish }),
        ["usage"] = usage,
    };

    /// <summary>A chat.completion body.</summary>
    public static JsonObject ChatJson(string id, long created, string model, string text, string finish, JsonObject usage) => new()
    {
        ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = model, ["system_fingerprint"] = null,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text, ["refusal"] = null },
            ["logprobs"] = null,
            ["finish_reason"] = finish,
        }),
        ["usage"] = usage,
    };

    /// <summary>A chat.completion.chunk (no choice when <paramref name="delta"/> is null: the usage chunk).</summary>
    public static JsonObject ChatChunkJson(string id, long created, string model, JsonObject? delta, string? finish, JsonObject? usage) => new()
    {
        ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model, ["system_fingerprint"] = null,
        ["choices"] = delta is null ? new JsonArray() : new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish }),
        ["usage"] = usage,
    };
}
