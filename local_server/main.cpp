// main.cpp — the stock local_server: everything is run_local_server (behavior/local_server.h).
// The game comes from --kinds-lib; the demo game is lib/libbehavior_demo_game.so.
#include <behavior/local_server.h>

int main(int argc, char** argv) { return behavior::run_local_server(argc, argv); }
