package tor

import "syscall"

// sysProcAttr makes tor die with the program that started it, even when a
// crash skips Close: a tor outliving its gateway would keep its onion
// service's circuits open for nothing.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
