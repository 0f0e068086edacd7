%% anch_more.erl -- the m2m and broadcast cases of bench_runtime
%% (tools/bench/bench_runtime.cpp) on Erlang/OTP (Debian erlang-nox), with the same message
%% counts and semantics, as the Erlang anchor of these two cases beside anch.erl's
%% pingpong/counting/ring/spawn. Plain spawn: where processes run is the VM's business.
%%   m2m N [P]:       P processes (default 1000), each sends N div (2P) requests, one at a
%%                    time, to pseudo-random other processes (the same xorshift32 sequence
%%                    as ours) and answers every request it gets, also after it is done.
%%   broadcast N [S]: one publisher, S subscribers (default 10000), N div (2S) rounds of one
%%                    message to each subscriber and one answer back from each.
%% The clock runs from the first go to the last done (spawns before it); a count check after
%% it halts with status 1 on a mismatch.
%% Usage: erl -noshell -pa DIR -s anch_more main m2m 1000000 [1000] -s init stop
-module(anch_more).
-export([main/1]).

-define(MASK32, 16#FFFFFFFF).

main([What, NAtom]) ->
    main([What, NAtom, default]);
main([What, NAtom, SizeAtom]) ->
    N = list_to_integer(atom_to_list(NAtom)),
    Size = case SizeAtom of
               default when What =:= m2m -> 1000;
               default -> 10000;
               _ -> list_to_integer(atom_to_list(SizeAtom))
           end,
    case run(What, N, Size) of
        {ok, Msgs, S} ->
            io:format("erlang ~p n=~p time=~.3fs rate=~p msg/s~n",
                      [What, N, S, round(Msgs / S)]);
        {error, Text} ->
            io:format(standard_error, "~s~n", [Text]),
            halt(1)
    end.

now_us() -> erlang:monotonic_time(microsecond).

run(m2m, N, P) ->
    M = N div (2 * P),
    case M < 1 of
        true -> {error, "m2m: n must be at least 2*procs"};
        false -> m2m(N, P, M)
    end;
run(broadcast, N, S) ->
    Rounds = N div (2 * S),
    case Rounds < 1 of
        true -> {error, "broadcast: n must be at least 2*subs"};
        false -> broadcast(S, Rounds)
    end.

m2m(_N, P, M) ->
    Main = self(),
    Pids = [spawn(fun() -> peer_init(I, P, M, Main) end) || I <- lists:seq(0, P - 1)],
    Peers = list_to_tuple(Pids),
    [Pid ! {peers, Peers} || Pid <- Pids],
    T0 = now_us(),
    [Pid ! go || Pid <- Pids],
    collect(P),
    S = (now_us() - T0) / 1.0e6,
    {Handled, Got} = tallies(Pids),
    [exit(Pid, kill) || Pid <- Pids],
    case Handled =:= P * M andalso Got =:= P * M of
        true -> {ok, 2 * P * M, S};
        false -> {error, io_lib:format("m2m: count mismatch: ~p answered, ~p replies, want ~p",
                                       [Handled, Got, P * M])}
    end.

xorshift32(X0) ->
    X1 = X0 bxor ((X0 bsl 13) band ?MASK32),
    X2 = X1 bxor (X1 bsr 17),
    (X2 bxor ((X2 bsl 5) band ?MASK32)).

seed(I) ->
    case (I * 2654435761 + 1) band ?MASK32 of
        0 -> 1;
        X -> X
    end.

%% Only the peers tuple is taken first; requests that come before it wait in the mailbox.
peer_init(I, P, M, Main) ->
    receive {peers, Peers} -> peer(I, P, M, Peers, Main, seed(I), 0, 0) end.

%% X: the xorshift state, Got: replies received, Handled: requests answered.
peer(I, P, M, Peers, Main, X, Got, Handled) ->
    receive
        {req, From} ->
            From ! rep,
            peer(I, P, M, Peers, Main, X, Got, Handled + 1);
        rep when Got + 1 =:= M ->
            Main ! done,
            peer(I, P, M, Peers, Main, X, Got + 1, Handled);
        rep ->
            X1 = request(I, P, Peers, X),
            peer(I, P, M, Peers, Main, X1, Got + 1, Handled);
        go ->
            X1 = request(I, P, Peers, X),
            peer(I, P, M, Peers, Main, X1, Got, Handled);
        {report, From} ->
            From ! {tally, Handled, Got},
            peer(I, P, M, Peers, Main, X, Got, Handled)
    end.

%% Asks the next pseudo-random peer other than itself (itself only when alone); returns the
%% new xorshift state.
request(I, 1, Peers, X) ->
    element(I + 1, Peers) ! {req, self()},
    X;
request(I, P, Peers, X) ->
    X1 = xorshift32(X),
    To0 = X1 rem (P - 1),
    To = case To0 >= I of true -> To0 + 1; false -> To0 end,
    element(To + 1, Peers) ! {req, self()},
    X1.

broadcast(S, Rounds) ->
    Main = self(),
    Subs = [spawn(fun() -> sub(0) end) || _ <- lists:seq(1, S)],
    Pub = spawn(fun() -> receive go -> publisher(Subs, S, Rounds, 0, Main) end end),
    T0 = now_us(),
    Pub ! go,
    Got = receive {done, G} -> G end,
    Secs = (now_us() - T0) / 1.0e6,
    {Handled, _} = tallies(Subs),
    [exit(Pid, kill) || Pid <- Subs],
    case Handled =:= S * Rounds andalso Got =:= S * Rounds of
        true -> {ok, 2 * S * Rounds, Secs};
        false -> {error, io_lib:format("broadcast: count mismatch: ~p answered, ~p answers, want ~p",
                                       [Handled, Got, S * Rounds])}
    end.

sub(Handled) ->
    receive
        {pub, From} ->
            From ! ack,
            sub(Handled + 1);
        {report, From} ->
            From ! {tally, Handled, 0},
            sub(Handled)
    end.

%% Round after round: one message to every subscriber, then all S answers.
publisher(_Subs, _S, 0, Got, Main) ->
    Main ! {done, Got};
publisher(Subs, S, Rounds, Got, Main) ->
    Self = self(),
    [Sub ! {pub, Self} || Sub <- Subs],
    acks(S),
    publisher(Subs, S, Rounds - 1, Got + S, Main).

acks(0) -> ok;
acks(K) -> receive ack -> acks(K - 1) end.

collect(0) -> ok;
collect(K) -> receive done -> collect(K - 1) end.

%% The sums of every process's {Handled, Got}, asked for after the clock has stopped.
tallies(Pids) ->
    Self = self(),
    [Pid ! {report, Self} || Pid <- Pids],
    lists:foldl(fun(_, {H, G}) -> receive {tally, H1, G1} -> {H + H1, G + G1} end end,
                {0, 0}, Pids).
