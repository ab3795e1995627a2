using SharpToken;

namespace Sdtt.Data;

/// <summary>GPT-2 byte-pair encoding (r50k_base) with the diffusion vocabulary's extra MASK token.</summary>
public sealed class Gpt2Tokenizer
{
    /// <summary>&lt;|endoftext|&gt;, used as both BOS and EOS by the reference.</summary>
    public const int Eos = 50256;
    /// <summary>Same id as <see cref="Eos"/>.</summary>
    public const int Bos = 50256;
    /// <summary>The absorbing MASK token: one past GPT-2's vocabulary, the last logit column.</summary>
    public const int Mask = 50257;
    /// <summary>GPT-2's vocabulary size (50257).</summary>
    public const int TextVocabSize = 50257;
    /// <summary>The model vocabulary: GPT-2 + MASK (50258).</summary>
    public const int ModelVocabSize = 50258;

    private static readonly Lazy<Gpt2Tokenizer> Shared = new(() => new Gpt2Tokenizer());
    private readonly GptEncoding _encoding = GptEncoding.GetEncoding("r50k_base");

    /// <summary>A process-wide instance (the BPE tables are loaded once).</summary>
    public static Gpt2Tokenizer Instance => Shared.Value;

    /// <summary>Encodes text without adding special tokens; "&lt;|endoftext|&gt;" in text is encoded as plain text.</summary>
    public int[] Encode(string text) => _encoding.Encode(text, new HashSet<string>(), new HashSet<string>()).ToArray();

    /// <summary>Decodes ids; EOS becomes "&lt;|endoftext|&gt;" and MASK becomes "[MASK]".</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new System.Text.StringBuilder();
        var run = new List<int>();
        void Flush() { if (run.Count > 0) { sb.Append(_encoding.Decode(run)); run.Clear(); } }
        foreach (var id in ids)
        {
            if (id == Mask) { Flush(); sb.Append("[MASK]"); }
            else if (id < 0 || id > Mask) { Flush(); sb.Append($"[UNK:{id}]"); }
            else run.Add(id);
        }
        Flush();
        return sb.ToString();
    }

    /// <summary>Decodes ids, dropping EOS/BOS and MASK tokens (what a reader wants to see).</summary>
    public string DecodeClean(IEnumerable<int> ids) => Decode(ids.Where(i => i != Eos && i != Mask));
}
