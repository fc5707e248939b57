// A main() for a fuzz target without libFuzzer: runs the target once on each file given, or
// on each file of each directory given (a corpus), and says how many ran. An input that
// breaks an invariant aborts, as under libFuzzer. A directory without files is an error (a
// corpus that went missing must not pass silently); a missing one is skipped when its name
// ends in "crashes/<target>" (no crash found yet), and an error otherwise.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    std::size_t ran = 0;
    for (int i = 1; i < argc; ++i) {
        fs::path given(argv[i]);
        std::vector<fs::path> files;
        if (fs::is_directory(given)) {
            for (const auto& entry : fs::recursive_directory_iterator(given)) {
                if (entry.is_regular_file() && entry.path().filename().string()[0] != '.')
                    files.push_back(entry.path());
            }
            if (files.empty()) {
                std::fprintf(stderr, "%s: no inputs in %s\n", argv[0], argv[i]);
                return 1;
            }
        } else if (fs::is_regular_file(given)) {
            files.push_back(given);
        } else if (given.parent_path().filename() == "crashes") {
            continue;
        } else {
            std::fprintf(stderr, "%s: %s: no such file or directory\n", argv[0], argv[i]);
            return 1;
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file, std::ios::binary);
            std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
            if (!in.good() && !in.eof()) {
                std::fprintf(stderr, "%s: cannot read %s\n", argv[0], file.c_str());
                return 1;
            }
            std::fprintf(stderr, "%s\n", file.c_str());
            LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                   bytes.size());
            ++ran;
        }
    }
    std::printf("%zu inputs ran without breaking an invariant\n", ran);
    return ran > 0 ? 0 : 1;
}
