using Sdtt.Data;
using Sdtt.Serving;

namespace Sdtt.Tests.Serving;

/// <summary>Streaming detokenisation (incomplete UTF-8 held back) and stop sequences (possible prefixes held back).</summary>
public class StreamingTextTests
{
    [Fact]
    public void DetokenizerNeverEmitsAHalfCharacter()
    {
        const string text = "naïve 😀 日本語 done";
        var tokens = Gpt2Tokenizer.Instance.Encode(text);
        // the premise: some tokens alone are incomplete UTF-8 (a naive per-token decode would emit U+FFFD)
        Assert.Contains(tokens, t => Gpt2Tokenizer.Instance.Decode(new[] { t }).Contains('\uFFFD'));
        var d = new StreamingDetokenizer();
        var pieces = tokens.Select(d.Push).Append(d.Flush()).ToList();
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void StopFilterHoldsPossiblePrefixesAndCutsAtTheFirstStop()
    {
        var f = new StopSequenceFilter(new[] { "\nUser:", "END" });
        Assert.Equal("Hello", f.Push("Hello\nUs"));     // "\nUs" might start "\nUser:"
        Assert.Equal("\nUsual", f.Push("ual"));           // it did not
        Assert.Equal(" text ", f.Push(" text E"));       // "E" might start "END"
        Assert.Equal("", f.Push("N"));                    // "EN" still might
        Assert.False(f.Stopped);
        Assert.Equal("", f.Push("D and more"));
        Assert.True(f.Stopped);
        Assert.Equal("", f.Push("later"));
        Assert.Equal("", f.Flush());

        var g = new StopSequenceFilter(new[] { "abc" });
        Assert.Equal("x", g.Push("xab"));
        Assert.Equal("ab", g.Flush());   // the generation ended: held text is released
    }

    [Fact]
    public void ChatPromptIsTheDocumentedTranscript()
    {
        var p = ChatPromptFormat.Format(new[] { ("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "Why?") });
        Assert.Equal("Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Why?\n\nAssistant:", p);
        Assert.Equal(new[] { "###", "\nUser:" }, ChatPromptFormat.Stops(new[] { "###" }));
    }
}
