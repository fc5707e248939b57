// ipckit::sysv::SharedMemory against real kernel segments and real processes.
#include <gtest/gtest.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using ipckit::Process;

namespace {

// A fresh segment with a random key, removed when the test ends, even when it fails.
sysv::SharedMemory fresh_segment(std::size_t size = 0, char init = ' ') {
    sysv::SharedMemory shm(std::nullopt, sysv::IPC_CREX, sysv::default_mode, size, init);
    shm.set_auto_remove(true);
    return shm;
}

}  // namespace

TEST(SharedMemory, SysvIpcDefaults) {
    auto shm = fresh_segment();
    EXPECT_TRUE(shm.attached());
    EXPECT_TRUE(shm.created());
    EXPECT_NE(shm.address(), nullptr);
    EXPECT_EQ(shm.size(), static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));  // size 0: a page
    EXPECT_EQ(shm.read(), std::string(shm.size(), ' '));  // filled with init_character
    EXPECT_EQ(shm.mode(), 0600);
    EXPECT_EQ(shm.number_attached(), 1u);
    EXPECT_EQ(shm.creator_pid(), ::getpid());
    EXPECT_EQ(shm.last_pid(), ::getpid());
    EXPECT_NE(shm.last_attach_time(), 0);
    EXPECT_EQ(shm.last_detach_time(), 0);
    EXPECT_NE(shm.last_change_time(), 0);
    EXPECT_EQ(shm.uid(), ::geteuid());
    EXPECT_EQ(shm.gid(), ::getegid());
    EXPECT_EQ(shm.cuid(), ::geteuid());
    EXPECT_EQ(shm.cgid(), ::getegid());
}

TEST(SharedMemory, InitCharacter) {
    EXPECT_EQ(fresh_segment(8, '\0').read(), std::string(8, '\0'));
    EXPECT_EQ(fresh_segment(8, '#').read(), "########");
}

TEST(SharedMemory, ReadAndWriteWithOffsets) {
    auto shm = fresh_segment(16, 'x');
    EXPECT_EQ(shm.size(), 16u);
    shm.write("hello");
    shm.write(std::string("\0\1\2", 3), 13);
    EXPECT_EQ(shm.read(5), "hello");
    EXPECT_EQ(shm.read(3, 13), std::string("\0\1\2", 3));
    EXPECT_EQ(shm.read(0, 5), std::string(8, 'x') + std::string("\0\1\2", 3));
    // More than there is reads to the end, as sysv_ipc.
    EXPECT_EQ(shm.read(100, 14), std::string("\1\2", 2));
    std::byte out[4];
    EXPECT_EQ(shm.read_into(out, 1), 4u);
    EXPECT_EQ(std::memcmp(out, "ello", 4), 0);
    EXPECT_EQ(shm.read_into(out, 14), 2u);
    const std::byte raw[] = {std::byte{0xff}, std::byte{0x00}};
    shm.write(std::span<const std::byte>(raw), 14);
    EXPECT_EQ(shm.read(2, 14), std::string("\xff\0", 2));
    shm.write("", 16);  // nothing at the very end is fine
    // The span view is the same memory.
    auto view = shm.bytes();
    EXPECT_EQ(view.size(), 16u);
    view[0] = std::byte{'J'};
    EXPECT_EQ(shm.read(5), "Jello");
    EXPECT_EQ(shm.cbytes().data(), view.data());
}

TEST(SharedMemory, BoundsChecks) {
    auto shm = fresh_segment(10);
    EXPECT_THROW(shm.read(0, 10), ipckit::ValueError);
    EXPECT_THROW(shm.read(1, 100), ipckit::ValueError);
    EXPECT_THROW(shm.write("abc", 8), ipckit::ValueError);
    EXPECT_THROW(shm.write("a", 11), ipckit::ValueError);
    EXPECT_THROW(shm.write(std::string(11, 'a')), ipckit::ValueError);
    std::byte out[2];
    EXPECT_THROW(shm.read_into(out, 10), ipckit::ValueError);
    try {
        shm.write("abc", 8);
        FAIL() << "wrote 3 bytes at offset 8 of a 10-byte segment";
    } catch (const ipckit::ValueError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(sysv::format_key(shm.key())), std::string::npos) << what;
        EXPECT_NE(what.find("10 bytes"), std::string::npos) << what;
    }
    EXPECT_EQ(shm.read(), std::string(10, ' '));  // nothing was written
}

TEST(SharedMemory, DetachAttachAndNotAttached) {
    auto shm = fresh_segment(32);
    shm.write("kept");
    shm.detach();
    EXPECT_FALSE(shm.attached());
    EXPECT_EQ(shm.address(), nullptr);
    EXPECT_EQ(shm.number_attached(), 0u);
    EXPECT_NE(shm.last_detach_time(), 0);
    EXPECT_THROW(shm.read(), ipckit::NotAttachedError);
    EXPECT_THROW(shm.write("x"), ipckit::NotAttachedError);
    EXPECT_THROW(shm.bytes(), ipckit::NotAttachedError);
    EXPECT_THROW(shm.cbytes(), ipckit::NotAttachedError);
    EXPECT_THROW(shm.detach(), ipckit::NotAttachedError);
    std::byte out[1];
    EXPECT_THROW(shm.read_into(out), ipckit::NotAttachedError);
    shm.attach();
    EXPECT_EQ(shm.read(4), "kept");
    // Attaching again replaces the attachment instead of leaking it.
    shm.attach();
    EXPECT_EQ(shm.number_attached(), 1u);
}

TEST(SharedMemory, ReadOnlyAttach) {
    auto shm = fresh_segment(8);
    shm.write("data");
    auto reader = sysv::attach(shm.id(), nullptr, SHM_RDONLY);
    EXPECT_TRUE(reader.read_only());
    EXPECT_EQ(reader.read(4), "data");
    EXPECT_EQ(reader.cbytes().size(), 8u);
    EXPECT_THROW(reader.write("x"), ipckit::PermissionsError);
    EXPECT_THROW(reader.bytes(), ipckit::PermissionsError);
    EXPECT_EQ(shm.number_attached(), 2u);
    shm.write("more");
    EXPECT_EQ(reader.read(4), "more");  // the same memory
    reader.attach();                    // read-write now
    reader.write("rw");
    EXPECT_EQ(shm.read(2), "rw");
}

TEST(SharedMemory, OpenByKeyAndIdAndPrivate) {
    auto shm = fresh_segment(64, 'a');
    sysv::SharedMemory opened(shm.key());
    EXPECT_FALSE(opened.created());
    EXPECT_EQ(opened.size(), 64u);
    opened.write("shared");
    EXPECT_EQ(shm.read(6), "shared");
    // IPC_CREAT on an existing segment does not fill it again.
    sysv::SharedMemory again(shm.key(), IPC_CREAT, 0600, 64, 'z');
    EXPECT_FALSE(again.created());
    EXPECT_EQ(again.read(7), "shareda");
    auto by_id = sysv::SharedMemory::from_id(shm.id());
    EXPECT_EQ(by_id.key(), shm.key());
    EXPECT_EQ(shm.number_attached(), 4u);

    sysv::SharedMemory priv(IPC_PRIVATE, 0, 0640, 100);
    priv.set_auto_remove(true);
    EXPECT_EQ(priv.key(), IPC_PRIVATE);
    EXPECT_EQ(priv.mode(), 0640);
    EXPECT_EQ(priv.size(), 100u);
    EXPECT_NE(priv.describe().find("(id " + std::to_string(priv.id()) + ")"), std::string::npos);

    bool listed = false;
    for (const auto& s : sysv::list_shared_memory()) {
        if (s.id == shm.id()) {
            listed = true;
            EXPECT_EQ(s.size, 64u);
            EXPECT_EQ(s.number_attached, 4u);
        }
    }
    EXPECT_TRUE(listed);
}

TEST(SharedMemory, SettersAndMove) {
    auto shm = fresh_segment(8);
    shm.set_mode(0640);
    EXPECT_EQ(shm.mode(), 0640);
    // The owner may give it to another user and group (nobody's, 65534) and, being its
    // creator, take it back.
    shm.set_uid(65534);
    shm.set_gid(65534);
    EXPECT_EQ(shm.uid(), 65534u);
    EXPECT_EQ(shm.gid(), 65534u);
    EXPECT_EQ(shm.cuid(), ::geteuid());
    shm.set_uid(::geteuid());
    shm.set_gid(::getegid());
    EXPECT_EQ(shm.uid(), ::geteuid());
    EXPECT_EQ(shm.gid(), ::getegid());
    EXPECT_EQ(shm.mode(), 0640);  // the mode stays
    sysv::SharedMemory moved(std::move(shm));
    EXPECT_TRUE(moved.attached());
    EXPECT_EQ(moved.number_attached(), 1u);
    sysv::SharedMemory other = fresh_segment(8);
    other = std::move(moved);  // detaches and removes the old `other`
    EXPECT_EQ(other.number_attached(), 1u);
}

TEST(SharedMemory, RemovedSegmentLivesUntilDetached) {
    auto shm = fresh_segment(8);
    shm.write("alive");
    shm.remove();
    EXPECT_EQ(shm.read(5), "alive");  // still attached
    EXPECT_TRUE(shm.info().removed);
    shm.detach();
    EXPECT_THROW(shm.attach(), ipckit::ExistentialError);
    EXPECT_THROW(shm.info(), ipckit::ExistentialError);
    EXPECT_THROW(shm.remove(), ipckit::ExistentialError);
}

TEST(SharedMemory, ErrorPaths) {
    auto gone = fresh_segment();
    sysv::Key key = gone.key();
    int id = gone.id();
    gone.remove();
    gone.detach();
    try {
        sysv::SharedMemory s(key);
        FAIL() << "opened a missing segment";
    } catch (const ipckit::ExistentialError& e) {
        EXPECT_EQ(e.errno_value(), ENOENT);
        std::string what = e.what();
        EXPECT_NE(what.find("shared memory segment " + sysv::format_key(key)), std::string::npos)
            << what;
    }
    EXPECT_THROW(sysv::attach(id), ipckit::ExistentialError);
    EXPECT_THROW(sysv::remove_shared_memory(id), ipckit::ExistentialError);

    auto shm = fresh_segment(16);
    EXPECT_THROW(sysv::SharedMemory(shm.key(), sysv::IPC_CREX, 0600, 16), ipckit::ExistentialError);
    // Asking for more than the segment has.
    try {
        sysv::SharedMemory s(shm.key(), 0, 0600, 4096);
        FAIL() << "opened a 16-byte segment as 4096";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("only 16 bytes"), std::string::npos) << e.what();
    }
    // More than the kernel allows.
    EXPECT_THROW(sysv::SharedMemory(std::nullopt, sysv::IPC_CREX, 0600, SIZE_MAX - 4096),
                 ipckit::Error);
    // A misaligned attach address.
    EXPECT_THROW(shm.attach(reinterpret_cast<void*>(0x1001)), ipckit::ValueError);

    auto doomed = fresh_segment();
    doomed.detach();
    sysv::remove_shared_memory(doomed.id());
    EXPECT_THROW(doomed.info(), ipckit::ExistentialError);
}

TEST(SharedMemory, PermissionDenied) {
    auto shm = fresh_segment(8);
    if (::geteuid() != 0) {
        // No other user to become: the owner can still lock itself out with mode 0.
        shm.set_mode(0);
        EXPECT_THROW(sysv::attach(shm.id()), ipckit::PermissionsError);
        shm.set_mode(0600);
        return;
    }
    Process stranger([key = shm.key()] {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(5);
        try {
            sysv::SharedMemory s(key);
        } catch (const ipckit::PermissionsError& e) {
            _exit(std::string(e.what()).find("ipcs -m") != std::string::npos ? 3 : 4);
        }
        _exit(0);
    });
    stranger.start();
    ASSERT_TRUE(stranger.join(20s));
    EXPECT_EQ(stranger.exitcode(), 3);
}
