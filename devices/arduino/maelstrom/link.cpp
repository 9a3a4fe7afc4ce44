#include "link.h"

#include <avr/pgmspace.h>

#include "onewire.h"

namespace {
int8_t hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;  // the host may send lower case
  return -1;
}

const char HEX_DIGITS[] = "0123456789ABCDEF";
}  // namespace

bool LineReader::feed(uint8_t byte) {
  if (byte != '\n') {
    if (length_ < MAX_LINE) {
      buffer_[length_++] = (char)byte;
    } else {
      overflow_ = true;  // keep swallowing until the newline, then drop it all
    }
    return false;
  }
  bool valid = !overflow_ && check();
  if (!valid && (length_ > 0 || overflow_)) garbage_++;
  length_ = 0;
  overflow_ = false;
  return valid;
}

bool LineReader::check() {
  uint8_t n = length_;
  if (n > 0 && buffer_[n - 1] == '\r') n--;
  // body + "*HH" + "\n" must fit in MAX_LINE bytes
  if (n < 4 || n + 1 > MAX_LINE || buffer_[n - 3] != '*') return false;
  int8_t high = hexValue(buffer_[n - 2]);
  int8_t low = hexValue(buffer_[n - 1]);
  if (high < 0 || low < 0) return false;
  uint8_t bodyLength = n - 3;
  for (uint8_t i = 0; i < bodyLength; i++) {
    char c = buffer_[i];
    if (c < 0x20 || c > 0x7E || c == '*') return false;
  }
  if (crc8((const uint8_t *)buffer_, bodyLength) != (uint8_t)((high << 4) | low)) return false;
  buffer_[bodyLength] = '\0';
  return true;
}

LineWriter &LineWriter::put(char c) {
  if (length_ < MAX_BODY) body_[length_++] = c;
  return *this;
}

LineWriter &LineWriter::begin(char type) {
  length_ = 0;
  return put(type);
}

LineWriter &LineWriter::text(const char *s) {
  while (*s) put(*s++);
  return *this;
}

LineWriter &LineWriter::textP(const char *s) {
  char c;
  while ((c = pgm_read_byte(s++)) != '\0') put(c);
  return *this;
}

LineWriter &LineWriter::number(int32_t value) {
  put(' ');
  char digits[11];
  uint8_t n = 0;
  uint32_t magnitude = value < 0 ? -(uint32_t)value : (uint32_t)value;
  do {
    digits[n++] = '0' + magnitude % 10;
    magnitude /= 10;
  } while (magnitude);
  if (value < 0) put('-');
  while (n) put(digits[--n]);
  return *this;
}

LineWriter &LineWriter::hex(uint8_t value) {
  put(HEX_DIGITS[value >> 4]);
  return put(HEX_DIGITS[value & 0x0F]);
}

void LineWriter::send() {
  uint8_t crc = crc8((const uint8_t *)body_, length_);
  out_.write((const uint8_t *)body_, length_);
  out_.write('*');
  out_.write(HEX_DIGITS[crc >> 4]);
  out_.write(HEX_DIGITS[crc & 0x0F]);
  out_.write('\n');
}
