using Sdtt.Data;

namespace Sdtt.Serving;

/// <summary>Turns GPT-2 tokens, pushed one at a time, into text that is safe to send: a character whose UTF-8 bytes are
/// split over several tokens is held back until its last byte arrives. Decoding the pending tokens together gives U+FFFD
/// at the end exactly while a sequence is incomplete, so such text is held (up to <see cref="MaxHeldTokens"/> tokens,
/// the longest a UTF-8 character can span; after that the bytes are invalid and are released as U+FFFD).</summary>
public sealed class StreamingDetokenizer
{
    /// <summary>A UTF-8 character has at most 4 bytes, so at most 4 tokens can hold one unfinished character.</summary>
    public const int MaxHeldTokens = 4;
    private readonly Gpt2Tokenizer _tokenizer;
    private readonly List<int> _pending = new();

    /// <summary>A detokenizer over <paramref name="tokenizer"/> (default: the shared GPT-2 tokenizer).</summary>
    public StreamingDetokenizer(Gpt2Tokenizer? tokenizer = null) => _tokenizer = tokenizer ?? Gpt2Tokenizer.Instance;

    /// <summary>Adds one token and returns the text that became final (possibly empty).</summary>
    public string Push(int token)
    {
        _pending.Add(token);
        var text = _tokenizer.Decode(_pending);
        if (text.EndsWith('\uFFFD') && _pending.Count < MaxHeldTokens) return "";
        _pending.Clear();
        return text;
    }

    /// <summary>Releases whatever is held (at the end of a generation).</summary>
    public string Flush()
    {
        if (_pending.Count == 0) return "";
        var text = _tokenizer.Decode(_pending);
        _pending.Clear();
        return text;
    }
}
