// main.cpp — bot: placeholder while it is written (issue 6).
#include <cstdio>
int main() {
  std::fprintf(stderr, "bot: not written yet\n");
  return 2;
}
