package plaid.model.checkpoint;

/** The pickle opcodes that torch.save's protocol-2 state dicts use, shared by reader and writer. */
final class PickleOpcodes {
    static final int PROTO = 0x80;
    static final int STOP = '.';
    static final int MARK = '(';
    static final int GLOBAL = 'c';
    static final int STACK_GLOBAL = 0x93;
    static final int BINPUT = 'q';
    static final int LONG_BINPUT = 'r';
    static final int BINGET = 'h';
    static final int LONG_BINGET = 'j';
    static final int EMPTY_TUPLE = ')';
    static final int TUPLE = 't';
    static final int TUPLE1 = 0x85;
    static final int TUPLE2 = 0x86;
    static final int TUPLE3 = 0x87;
    static final int REDUCE = 'R';
    static final int BUILD = 'b';
    static final int BINUNICODE = 'X';
    static final int BININT = 'J';
    static final int BININT1 = 'K';
    static final int BININT2 = 'M';
    static final int BINPERSID = 'Q';
    static final int NEWFALSE = 0x89;
    static final int EMPTY_DICT = '}';
    static final int SETITEM = 's';
    static final int SETITEMS = 'u';

    private PickleOpcodes() {}
}
