package directory

import "fmt"

// Role is what a node does in the network.
type Role uint8

// Roles. Zero is not a role, so a descriptor of zeros never decodes.
const (
	RoleGateway Role = 1 // clients' entry and exit; holds their reply queues
	RoleMix     Role = 2 // one of the MixLayers mix layers
	RoleService Role = 3 // offers services (echo, mailbox) at the path's end
)

func (r Role) String() string {
	switch r {
	case RoleGateway:
		return "gateway"
	case RoleMix:
		return "mix"
	case RoleService:
		return "service"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole parses a role's name as String writes it.
func ParseRole(s string) (Role, error) {
	for r := RoleGateway; r <= RoleService; r++ {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("directory: unknown role %q (want gateway, mix or service)", s)
}
