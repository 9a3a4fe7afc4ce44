// The serial line protocol's framing (docs/serial-protocol.md): `BODY*HH\n` with
// the CRC-8/MAXIM of BODY, at most 64 bytes a line.
#ifndef MAELSTROM_LINK_H
#define MAELSTROM_LINK_H

#include <Print.h>
#include <stdint.h>

const uint8_t MAX_LINE = 64;  // bytes in a whole line, `*HH` and newline included

// Collects received bytes into lines and checks them.
class LineReader {
 public:
  LineReader() : length_(0), overflow_(false), garbage_(0) {}

  // Feed one byte. True when it completed a valid line: body() is then the
  // NUL-terminated body (the checksum stripped). Invalid lines count as garbage.
  bool feed(uint8_t byte);
  char *body() { return buffer_; }
  uint16_t garbage() const { return garbage_; }

 private:
  bool check();

  char buffer_[MAX_LINE + 1];
  uint8_t length_;
  bool overflow_;
  uint16_t garbage_;
};

// Builds one outgoing line, then frames and writes it. Longer bodies are cut, so a
// line never exceeds MAX_LINE.
class LineWriter {
 public:
  explicit LineWriter(Print &out) : out_(out), length_(0) {}

  LineWriter &begin(char type);
  LineWriter &text(const char *s);
  LineWriter &textP(const char *progmemString);
  LineWriter &number(int32_t value);  // preceded by a space
  LineWriter &hex(uint8_t value);     // two upper-case digits, no space
  LineWriter &space() { return put(' '); }
  void send();

 private:
  static const uint8_t MAX_BODY = MAX_LINE - 4;  // "*HH\n"
  LineWriter &put(char c);

  Print &out_;
  char body_[MAX_BODY];
  uint8_t length_;
};

#endif
