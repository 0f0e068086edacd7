// not_kinds.cpp — a shared library without behavior_kinds_v1 (kinds_library_test.cpp).
extern "C" int some_other_library_function() { return 42; }
