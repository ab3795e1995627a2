using System.Text;

namespace Sdtt.Serving;

/// <summary>How a conversation becomes a prompt for a base model (these models were never instruction-tuned, so a
/// plain transcript is the most natural text to continue):
/// <code>
/// {system messages, one per paragraph}
///
/// User: {message}
///
/// Assistant: {message}
///
/// User: {message}
///
/// Assistant:
/// </code>
/// System messages come first (each followed by a blank line); every other message is "{Role}: {text}" followed by a
/// blank line, with Role = User, Assistant or the role's own name capitalised; the prompt ends with "Assistant:" and the
/// model continues from there. Generation stops at <see cref="StopSequences"/> ("\nUser:"), the start of the next turn.</summary>
public static class ChatPromptFormat
{
    /// <summary>Stop sequences every chat completion gets (besides the caller's).</summary>
    public static IReadOnlyList<string> StopSequences { get; } = new[] { "\nUser:" };

    /// <summary>The prompt for (role, text) messages in order.</summary>
    public static string Format(IEnumerable<(string Role, string Text)> messages)
    {
        var sb = new StringBuilder();
        foreach (var (role, text) in messages)
        {
            var r = role.Trim().ToLowerInvariant();
            if (r is "system" or "developer") sb.Append(text.Trim()).Append("\n\n");
            else sb.Append(Label(r)).Append(": ").Append(text.Trim()).Append("\n\n");
        }
        return sb.Append("Assistant:").ToString();
    }

    private static string Label(string role) => role switch
    {
        "user" => "User",
        "assistant" => "Assistant",
        "" => "User",
        _ => char.ToUpperInvariant(role[0]) + role[1..],
    };

    /// <summary>The caller's stop sequences plus <see cref="StopSequences"/> (at most 4 in all, the OpenAI limit).</summary>
    public static IReadOnlyList<string> Stops(IEnumerable<string>? caller) =>
        (caller ?? Array.Empty<string>()).Where(s => !string.IsNullOrEmpty(s)).Concat(StopSequences).Distinct().ToArray();
}
