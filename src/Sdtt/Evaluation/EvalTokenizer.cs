using Sdtt.Data;

namespace Sdtt.Evaluation;

/// <summary>The text→ids function and the BOS/EOS ids an evaluation uses (GPT-2 for every real model; tests plug in a small
/// vocabulary).</summary>
/// <param name="Encode">Encodes text without special tokens.</param>
/// <param name="Bos">Beginning-of-sequence id (GPT-2: 50256).</param>
/// <param name="Eos">End-of-sequence id (GPT-2: 50256).</param>
public sealed record EvalTokenizer(Func<string, int[]> Encode, int Bos, int Eos)
{
    /// <summary>The GPT-2 tokenizer (add_special_tokens = False), BOS = EOS = 50256.</summary>
    public static EvalTokenizer Gpt2 { get; } = new(t => Gpt2Tokenizer.Instance.Encode(t), Gpt2Tokenizer.Bos, Gpt2Tokenizer.Eos);
}
