// Shared by the build (as an MSBuild inline task) and by the library (runtime check for packaged tools).
// Sets VER_FLG_WEAK on one version-need entry of an ELF64 little-endian shared library.
using System;
using System.IO;
using System.Text;

namespace Sdtt.Native
{
    /// <summary>Edits the <c>.gnu.version_r</c> section of an ELF64 file so a named version need becomes weak.</summary>
    public static class ElfVersionPatch
    {
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        /// <summary>Result of <see cref="Apply"/>: Patched, AlreadyWeak or NotNeeded (the version is not referenced).</summary>
        public enum Outcome
        {
            /// <summary>The need was strong and is now weak.</summary>
            Patched,
            /// <summary>The need was already weak; the file is unchanged.</summary>
            AlreadyWeak,
            /// <summary>The file does not reference the version; it is unchanged.</summary>
            NotNeeded,
        }

        /// <summary>Marks every need of <paramref name="version"/> weak. Writes a temp file and renames it over the original.</summary>
        public static Outcome Apply(string path, string version = "GLIBCXX_3.4.32")
        {
            byte[] b = File.ReadAllBytes(path);
            var offsets = FindNeeds(b, version);
            if (offsets.Length == 0) return Outcome.NotNeeded;
            bool changed = false;
            foreach (int flagsOffset in offsets)
            {
                ushort flags = BitConverter.ToUInt16(b, flagsOffset);
                if ((flags & VerFlgWeak) != 0) continue;
                BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(b, flagsOffset);
                changed = true;
            }
            if (!changed) return Outcome.AlreadyWeak;
            string tmp = path + ".sdtt-tmp";
            File.Copy(path, tmp, true); // keeps the file mode
            using (var fs = new FileStream(tmp, FileMode.Truncate, FileAccess.Write)) fs.Write(b, 0, b.Length);
            File.Replace(tmp, path, null); // rename: never edits a hard-linked original in place
            return Outcome.Patched;
        }

        /// <summary>Byte offsets of the vna_flags fields whose vna_name is <paramref name="version"/>.</summary>
        public static int[] FindNeeds(byte[] b, string version)
        {
            if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (b[4] != 2 || b[5] != 1) throw new InvalidDataException("only ELF64 little-endian is supported");
            long shoff = BitConverter.ToInt64(b, 0x28);
            int shentsize = BitConverter.ToUInt16(b, 0x3A);
            int shnum = BitConverter.ToUInt16(b, 0x3C);
            var found = new System.Collections.Generic.List<int>();
            for (int i = 0; i < shnum; i++)
            {
                int sh = checked((int)(shoff + (long)i * shentsize));
                uint type = BitConverter.ToUInt32(b, sh + 4);
                if (type != ShtGnuVerneed) continue;
                int offset = checked((int)BitConverter.ToInt64(b, sh + 0x18));
                int link = (int)BitConverter.ToUInt32(b, sh + 0x28);
                int strSh = checked((int)(shoff + (long)link * shentsize));
                int strOff = checked((int)BitConverter.ToInt64(b, strSh + 0x18));
                int entry = offset;
                while (true)
                {
                    int cnt = BitConverter.ToUInt16(b, entry + 2);
                    int aux = entry + (int)BitConverter.ToUInt32(b, entry + 8);
                    for (int k = 0; k < cnt; k++)
                    {
                        int name = strOff + (int)BitConverter.ToUInt32(b, aux + 8);
                        int end = Array.IndexOf(b, (byte)0, name);
                        if (Encoding.ASCII.GetString(b, name, end - name) == version) found.Add(aux + 4);
                        uint nextAux = BitConverter.ToUInt32(b, aux + 12);
                        if (nextAux == 0) break;
                        aux += (int)nextAux;
                    }
                    uint next = BitConverter.ToUInt32(b, entry + 12);
                    if (next == 0) break;
                    entry += (int)next;
                }
            }
            return found.ToArray();
        }
    }
}

#if !SDTT_LIBRARY
/// <summary>MSBuild task: weakens the GLIBCXX_3.4.32 need of each given file.</summary>
public class WeakenGlibcxxNeed : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required]
    public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            try
            {
                var outcome = Sdtt.Native.ElfVersionPatch.Apply(item.ItemSpec);
                if (outcome == Sdtt.Native.ElfVersionPatch.Outcome.Patched)
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High, "sdtt: marked GLIBCXX_3.4.32 weak in " + item.ItemSpec);
            }
            catch (Exception e)
            {
                Log.LogWarning("sdtt: could not patch " + item.ItemSpec + ": " + e.Message);
            }
        }
        return true;
    }
}
#endif
