// main.cpp — ctl: placeholder while it is written (issue 6).
#include <cstdio>
int main() {
  std::fprintf(stderr, "ctl: not written yet\n");
  return 2;
}
